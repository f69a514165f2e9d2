"""Write the whole store as JSON (see ``importers.jsonio`` for the format)."""

from __future__ import annotations

import json
from typing import TextIO

from ..importers.jsonio import FORMAT, VERSION, dump_state, entry_to_json
from ..state import State
from ..storespec import CommentStore


def export_json(store: CommentStore, out: TextIO, state: State | None = None) -> int:
    """Write every entry of every state, oldest id first, then the audit trail and
    (if given) the state; returns how many entries.

    Written item by item, so a large store never sits in memory as one string.
    """
    entries = sorted(store.all_entries(on_error="raise"), key=lambda e: e.id)
    out.write(f'{{"format": "{FORMAT}", "version": {VERSION}, "entries": [')
    for number, entry in enumerate(entries):
        out.write(",\n  " if number else "\n  ")
        out.write(json.dumps(entry_to_json(entry), ensure_ascii=False, sort_keys=True))
    out.write('\n], "audit": [' if entries else '], "audit": [')
    for number, record in enumerate(store.audit_trail()):
        out.write(",\n  " if number else "\n  ")
        out.write(json.dumps(record, ensure_ascii=False, sort_keys=True))
    if state is not None:
        out.write('], "state": ')
        out.write(json.dumps(dump_state(state), ensure_ascii=False, sort_keys=True, indent=1))
        out.write("}\n")
    else:
        out.write("]}\n")
    return len(entries)
