"""Replacing a whole file atomically, the one way (the store's entries have their own)."""

from __future__ import annotations

import os

from .store import fsync_dir, write_temp


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *,
                 durable: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``:
    a reader sees the old file or the new one, never half of one. ``durable`` fsyncs
    the file before and its folder after the rename, so the change survives a crash;
    output a build writes again anyway (pages, feeds) goes without."""
    name = os.fspath(path)
    folder = os.path.dirname(name) or "."
    tmp = write_temp(folder, f".{os.path.basename(name)}",
                     data.encode("utf-8") if isinstance(data, str) else data,
                     sync=durable, mode=0o666)
    try:
        os.replace(tmp, name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(folder)
