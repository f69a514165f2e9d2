"""Replik's own JSON format: every field of every entry in every state.

``replik export --format json`` writes it (see ``exporters.jsonfile``);
``replik import json`` reads it back. Export, then import into an empty store,
gives byte-for-byte the same entry files.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ..store import ENTRY_FIELDS, STATES, TYPES, Entry, Store, is_valid_id
from .common import ImportFailed, Problem, Progress, Staging, Summary, commit

FORMAT = "replik-comments"
VERSION = 1
_BOOL_FIELDS = {"staff"}
_TEXT_FIELDS = set(ENTRY_FIELDS) - {"date", "staff"}


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
    values: dict[str, Any] = {}
    for name in ENTRY_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise ValueError(f"{name!r} must be true or false")
        elif not isinstance(value, str):
            raise ValueError(f"{name!r} must be a string")
        values[name] = value
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


def import_json(path: Path, store: Store, *, staging_parent: Path | None = None,
                dry_run: bool = False, progress: Progress | None = None) -> Summary:
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
    if document.get("version") != VERSION:
        raise ImportFailed(str(path), [Problem(None, f"unsupported version"
                                                     f" {document.get('version')!r}")])
    items = document.get("entries")
    if not isinstance(items, list):
        raise ImportFailed(str(path), [Problem(None, "\"entries\" must be a list")])
    problems: list[Problem] = []
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
    return summary
