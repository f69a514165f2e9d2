"""The append-only audit log of moderation decisions: who, what, when, from which state.

One JSON object per line in ``<store>/audit.log``. Each record is written with a
single ``write()`` on a file opened with O_APPEND, so lines from many processes
never interleave. It names entries by id, never by email or IP.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILENAME = "audit.log"


def record(
    store_root: str | os.PathLike[str],
    actor: str,
    action: str,
    entry_id: str = "",
    from_state: str = "",
    to_state: str = "",
    **detail: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "actor": actor,
        "action": action,
        "entry": entry_id,
        "from": from_state,
        "to": to_state,
    }
    if detail:
        item["detail"] = detail
    line = (json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    path = Path(store_root) / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    append(path, line)
    return item


def append(path: Path, line: bytes) -> None:
    """Append one record durably; raises OSError (e.g. ENOSPC) if it is not all on disk.

    The moderation decisions undo their change when this raises, so a decision and
    its record are kept or lost together.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        written = os.write(fd, line)
        if written != len(line):
            # Part of the line is in the file (a full disk): end it, so the next
            # record starts on a line of its own (read() skips the broken one).
            with suppress(OSError):
                os.write(fd, b"\n")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        os.fsync(fd)
    finally:
        os.close(fd)


def last_decision(store_root: str | os.PathLike[str], entry_id: str) -> dict[str, Any] | None:
    """The newest record that moved ``entry_id`` to another state (who, what, when)."""
    found = None
    for item in read(store_root, entry_id):
        if item.get("to") and item.get("to") != item.get("from"):
            found = item
    return found


def read(store_root: str | os.PathLike[str], entry_id: str | None = None) -> Iterator[dict]:
    """Records in the order written (optionally only those about one entry)."""
    path = Path(store_root) / FILENAME
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry_id is None or item.get("entry") == entry_id:
                yield item
