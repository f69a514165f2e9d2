"""Replacing a whole file atomically, the one way (the store's entries have their own)."""

from __future__ import annotations

import os
import secrets

from .store import fsync_dir


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *,
                 durable: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``:
    a reader sees the old file or the new one, never half of one. ``durable`` fsyncs
    the file before and its folder after the rename, so the change survives a crash;
    output a build writes again anyway (pages, feeds) goes without."""
    name = os.fspath(path)
    folder = os.path.dirname(name) or "."
    tmp = f"{folder}/.{os.path.basename(name)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(tmp, flags, 0o666)
    except FileNotFoundError:  # the first file in a new folder: no mkdir per call
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, flags, 0o666)
    try:
        with open(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                handle.flush()
                os.fsync(fd)
        os.replace(tmp, name)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(folder)
