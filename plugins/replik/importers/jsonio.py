"""Replik's own JSON format: every field of every entry in every state, the audit
trail and the state (version 2; version 1 had the entries only).

``replik export --format json`` writes it (see ``exporters.jsonfile``);
``replik import json`` reads it back, and ``replik db migrate`` moves a store
through it (files to PostgreSQL and back). Export, then import into an empty
store, gives byte-for-byte the same entry files. The state is every row of every
table in ``state.SCHEMA``, which both backends share; the audit records come as
the store gave them. An import adds only what the target lacks: entries by id,
state rows by their keys, audit records by their count.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from ..state import SCHEMA, State
from ..store import ENTRY_FIELDS, STATES, TYPES, Entry, is_valid_id
from ..storespec import CommentStore
from .common import ImportFailed, Problem, Progress, Staging, Summary, commit

FORMAT = "replik-comments"
VERSION = 2


def entry_to_json(entry: Entry) -> dict[str, Any]:
    """All of an entry, private fields included (this is a backup format)."""
    data: dict[str, Any] = {"state": entry.state}
    for name in ENTRY_FIELDS:
        value = getattr(entry, name)
        data[name] = value.isoformat() if name == "date" else value
    data["extra"] = dict(sorted(entry.extra.items()))
    return data


def entry_from_json(data: Any) -> Entry:
    """The reverse of entry_to_json; raises ValueError saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("is not an object")
    unknown = set(data) - set(ENTRY_FIELDS) - {"state", "extra"}
    if unknown:
        raise ValueError(f"has unknown fields: {', '.join(sorted(unknown))}")
    for required in ("id", "article", "date", "body", "state"):
        if required not in data:
            raise ValueError(f"has no {required!r}")
    values: dict[str, Any] = {name: data[name] for name in ENTRY_FIELDS if name in data}
    for name, value in values.items():
        if name == "staff":  # the one flag; every other field is text
            if not isinstance(value, bool):
                raise ValueError(f"{name!r} must be true or false")
        elif not isinstance(value, str):
            raise ValueError(f"{name!r} must be a string")
    if not is_valid_id(values["id"]):
        raise ValueError(f"has an invalid id {values['id']!r}")
    try:
        date = datetime.fromisoformat(values["date"])
    except ValueError:
        raise ValueError(f"has a malformed date {values['date']!r}") from None
    if date.tzinfo is None:
        raise ValueError(f"date {values['date']!r} has no time zone")
    values["date"] = date
    if values.get("type", "comment") not in TYPES:
        raise ValueError(f"has an unknown type {values['type']!r}")
    state = data["state"]
    if state not in STATES:
        raise ValueError(f"has an unknown state {state!r}")
    extra = data.get("extra", {})
    if not isinstance(extra, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and " " not in k and ":" not in k
        for k, v in extra.items()
    ):
        raise ValueError("'extra' must map header names to strings")
    article = values["article"]
    if not article or article in (".", "..") or any(c in article for c in "/\\\x00"):
        raise ValueError(f"has an unusable article slug {article!r}")
    return Entry(extra=dict(extra), state=state, **values)


def state_tables() -> dict[str, list[str]]:
    """Each state table and its columns, as ``state.SCHEMA`` makes them."""
    return {name: re.findall(r'^\s+"?(\w+)"? (?:INTEGER|TEXT|REAL)\b', body, re.M)
            for name, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);",
                                         SCHEMA, re.S)}


def _columns(names: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def dump_state(state: State) -> dict[str, list[dict[str, Any]]]:
    """Every row of every state table, in a stable order."""
    return {table: [dict(zip(names, row, strict=True)) for row in state.execute(
        f"SELECT {_columns(names)} FROM {table} ORDER BY {_columns(names)}")]
        for table, names in state_tables().items()}


def _problem(document: dict[str, Any]) -> str:
    """What is wrong with the audit trail or the state of a document, or ''."""
    tables = state_tables()
    records, data = document.get("audit", []), document.get("state", {})
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and isinstance(r.get("action"), str) for r in records):
        return "\"audit\" must be a list of audit records"
    if not isinstance(data, dict) or not set(data) <= set(tables) or not all(
            isinstance(rows, list) and all(isinstance(row, dict) and set(row) == set(
                tables[table]) for row in rows) for table, rows in data.items()):
        return "\"state\" must map state tables to lists of their rows"
    return ""


def load_state(state: State, data: dict[str, list[dict[str, Any]]]) -> int:
    """Add the rows ``state`` lacks (by their keys); returns how many were read."""
    tables = state_tables()
    with state.transaction() as db:
        for table, rows in data.items():
            names = tables[table]
            db.executemany(f"INSERT INTO {table} ({_columns(names)}) VALUES "
                           f"(?{', ?' * (len(names) - 1)}) ON CONFLICT DO NOTHING",
                           [[row[name] for name in names] for row in rows])
            if "id" in names and hasattr(state.db, "url"):  # PostgreSQL: ids go on from here
                db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id))"
                           f" FROM {table} HAVING max(id) IS NOT NULL")
    return sum(len(rows) for rows in data.values())


def _key(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def load_audit(store: CommentStore, records: list[dict[str, Any]]) -> int:
    """Append the audit records the store lacks (each as often as the export has it
    more than the store); returns how many were appended."""
    held = Counter(_key(record) for record in store.audit_trail())
    missing = []
    for record in records:
        if held[_key(record)]:
            held[_key(record)] -= 1
        else:
            missing.append(record)
    store.append_audit(missing)
    return len(missing)


def import_json(path: Path, store: CommentStore, *, state: State | None = None,
                staging_parent: Path | None = None, dry_run: bool = False,
                progress: Progress | None = None) -> Summary:
    summary = Summary(source=str(path))
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ImportFailed(str(path), [Problem(exc.lineno, f"not valid JSON: {exc.msg}")]
                           ) from None
    except UnicodeDecodeError as exc:
        raise ImportFailed(str(path), [Problem(None, f"not UTF-8: {exc.reason}")]) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ImportFailed(str(path), [Problem(None, f"not a Replik export (expected an object"
                                                     f" with \"format\": \"{FORMAT}\")")])
    if document.get("version") not in (1, VERSION):
        raise ImportFailed(str(path), [Problem(None, f"unsupported version"
                                                     f" {document.get('version')!r}")])
    items = document.get("entries")
    if not isinstance(items, list):
        raise ImportFailed(str(path), [Problem(None, "\"entries\" must be a list")])
    problems = [Problem(None, problem)] if (problem := _problem(document)) else []
    entries: list[Entry] = []
    seen: set[str] = set()
    for number, item in enumerate(items, start=1):
        label = f"entry {number}" + (f" ({item.get('id')})" if isinstance(item, dict) else "")
        try:
            entry = entry_from_json(item)
        except ValueError as exc:
            problems.append(Problem(None, f"{label} {exc}"))
            continue
        if entry.id in seen:
            problems.append(Problem(None, f"{label} appears twice"))
            continue
        seen.add(entry.id)
        entries.append(entry)
    if problems:
        raise ImportFailed(str(path), problems)
    with Staging(staging_parent) as staging:
        for entry in entries:
            staging.add(entry, entry.state)
            summary.entries[(entry.type, entry.state)] += 1
        commit(staging, store, summary, None, dry_run=dry_run, progress=progress)
    if not dry_run and "audit" in document:
        added = load_audit(store, document["audit"])
        summary.notes.append(f"audit records: {added} new")
    if not dry_run and state is not None and "state" in document:
        rows = load_state(state, document["state"])
        summary.notes.append(f"state: {rows} rows read, those missing added")
    return summary
