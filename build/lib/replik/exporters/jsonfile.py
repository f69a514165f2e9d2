"""Write the whole store as JSON (see ``importers.jsonio`` for the format)."""

from __future__ import annotations

import json
from typing import TextIO

from ..importers.jsonio import FORMAT, VERSION, entry_to_json
from ..store import Store


def export_json(store: Store, out: TextIO) -> int:
    """Write every entry of every state, oldest id first; returns how many.

    Written entry by entry, so a large store never sits in memory as one string.
    """
    entries = sorted(store.all_entries(on_error="raise"), key=lambda e: e.id)
    out.write(f'{{"format": "{FORMAT}", "version": {VERSION}, "entries": [')
    for number, entry in enumerate(entries):
        out.write(",\n  " if number else "\n  ")
        out.write(json.dumps(entry_to_json(entry), ensure_ascii=False, sort_keys=True))
    out.write("\n]}\n" if entries else "]}\n")
    return len(entries)
