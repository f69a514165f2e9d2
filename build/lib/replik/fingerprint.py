"""Has a folder tree changed? A cheap fingerprint to poll instead of a file watcher."""

from __future__ import annotations

import os
from pathlib import Path


def tree_fingerprint(*roots: str | Path) -> tuple[int, int]:
    """(newest mtime in ns, number of files) under the given folders.

    Any edit, new, renamed or deleted file changes it; folders count too, so a
    deletion that leaves older files behind is seen.
    """
    newest = count = 0
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            try:
                newest = max(newest, os.stat(folder).st_mtime_ns)
            except FileNotFoundError:
                continue
            for name in files:
                try:
                    newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime_ns)
                except FileNotFoundError:
                    continue
                count += 1
    return newest, count
