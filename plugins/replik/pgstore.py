"""The comment store in PostgreSQL (``REPLIK_DATABASE_URL``): storespec's contract.

One row per entry in ``entries`` (every field, the text, the state; the schema is
in ``pg.py``), the audit log in ``audit``. Every change is one transaction that
locks the entry's row (``SELECT … FOR UPDATE``): a decision is compare-and-set on
the state the moderator saw, and whoever comes second waits for the first to
commit, then sees its state. A change's ``record`` runs inside that transaction
(its audit record joins it, see ``pg``), so a decision and its record are kept or
lost together. Every change takes a new ``version`` from one sequence: the change
stamps are read from the rows without their texts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from psycopg.errors import UniqueViolation

from .pg import PgDatabase
from .storespec import (
    ENTRY_FIELDS,
    PRIVATE_FIELDS,
    STATES,
    CommentStore,
    Entry,
    EntryNotFound,
    Record,
    StateChanged,
    StoreError,
    is_valid_id,
)

_COLUMNS = ", ".join((*ENTRY_FIELDS, "extra", "state"))
_VALUES = f"?{', ?' * (len(ENTRY_FIELDS) + 1)}"
_INSERT = f"INSERT INTO entries ({_COLUMNS}) VALUES ({_VALUES}) ON CONFLICT (id) DO NOTHING"
# The duplicate index's claim and the entry it lets in, in one statement: one trip,
# one transaction. A claimed text waits for its holder's commit, then locks its row
# and gives its entry (DO NOTHING would give nothing); a taken id fails it all.
_CLAIM_AND_INSERT = (
    "WITH claim AS (INSERT INTO body_claims (fingerprint, entry) VALUES (?, ?) ON CONFLICT "
    "(fingerprint) DO UPDATE SET entry = body_claims.entry RETURNING entry), "
    f"added AS (INSERT INTO entries ({_COLUMNS}) SELECT {_VALUES} FROM claim "
    "WHERE claim.entry = ?) SELECT entry FROM claim")
log = logging.getLogger(__name__)
_SLUG_RE = re.compile(r"^[^/\\\x00]+$")  # as the file store files them


def _values(entry: Entry) -> tuple[Any, ...]:
    values = [getattr(entry, name) for name in ENTRY_FIELDS]
    values[ENTRY_FIELDS.index("date")] = entry.date.isoformat()
    return (*values, json.dumps(entry.extra, ensure_ascii=False, sort_keys=True))


def _entry(row: tuple[Any, ...]) -> Entry:
    fields = dict(zip(ENTRY_FIELDS, row, strict=False))
    fields["date"] = datetime.fromisoformat(fields["date"])
    return Entry(**fields, extra=json.loads(row[-2]), state=row[-1])


def _check(state: str, article: str, entry_id: str | None = None) -> None:
    """A state and article an entry may be filed under (and a new entry's id)."""
    if entry_id is not None and not is_valid_id(entry_id):
        raise StoreError(f"invalid entry id {entry_id!r}")
    if state not in STATES:
        raise StoreError(f"unknown state {state!r} (expected one of {', '.join(STATES)})")
    if state == "approved" and not (_SLUG_RE.match(article) and article not in (".", "..")):
        raise StoreError(f"cannot file an approved entry under article {article!r}")


class PgStore(CommentStore):
    """The comment store in one PostgreSQL database."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db
        self.location = str(db)

    # -- setting up ----------------------------------------------------------
    def ensure(self) -> None:
        """Check the schema (made by `replik db upgrade`). A database down while a node
        starts is checked at its first use: the node starts, answers 503 meanwhile,
        and needs no restart (systemd gives up a unit that fails five times in 10 s)."""
        try:
            self.db.pool()
        except ConnectionError as exc:
            log.warning("replik: %s; its schema is checked once it answers", exc)

    def sweep(self) -> list[Any]:
        return []  # a transaction that did not commit left nothing behind

    # -- writing -------------------------------------------------------------
    def add(self, entry: Entry, state: str = "pending", *, fresh: bool = False,
            record: Record | None = None) -> Entry:
        _check(state, entry.article, entry.id)
        with self.db.transaction() as db:
            if db.execute(_INSERT, (*_values(entry), state)).rowcount != 1:
                raise StoreError(f"an entry with id {entry.id} exists already")
            if record is not None:
                record()
        entry.state = state
        return entry

    def add_claimed(self, entry: Entry, state: str, fingerprint: str) -> str:
        """``add`` a new entry unless the duplicate index holds ``fingerprint`` for
        another: returns that one's id, or '' (stored)."""
        _check(state, entry.article, entry.id)
        try:
            (holder,) = self.db.execute(_CLAIM_AND_INSERT, (
                fingerprint, entry.id, *_values(entry), state, entry.id)).fetchone() or ("",)
        except UniqueViolation:
            raise StoreError(f"an entry with id {entry.id} exists already") from None
        if holder == entry.id:
            entry.state = state
            return ""
        return str(holder)

    def add_many(self, items: Iterable[tuple[Entry, str]]) -> list[Entry]:
        items = list(items)
        for entry, state in items:
            _check(state, entry.article, entry.id)
        with self.db.transaction() as db:
            held = {i for (i,) in db.execute("SELECT id FROM entries WHERE id = ANY(?)",
                                             ([e.id for e, _ in items],))}
            new = [(e, s) for e, s in items if e.id not in held]
            db.executemany(_INSERT, [(*_values(e), s) for e, s in new])
        for entry, state in new:
            entry.state = state
        return [e for e, _ in items if e.id in held]

    @contextmanager
    def _change(self, entry_id: str, expected: str | None) -> Iterator[tuple[Any, Entry]]:
        """The entry's row locked in a transaction, checked against ``expected``."""
        with self.db.transaction() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM entries WHERE id = ? FOR UPDATE",
                             (entry_id,)).fetchone() if is_valid_id(entry_id) else None
            if row is None:
                if expected:
                    raise StateChanged(entry_id, expected, "")
                raise EntryNotFound(entry_id)
            entry = _entry(row)
            if expected and entry.state != expected:
                raise StateChanged(entry_id, expected, entry.state)
            yield db, entry

    def move(self, entry_id: str, state: str, *, expected: str | None = None,
             record: Record | None = None) -> Entry:
        with self._change(entry_id, expected) as (db, entry):
            if entry.state == state:
                return entry
            _check(state, entry.article)
            db.execute("UPDATE entries SET state = ?, version = nextval('entry_versions') "
                       "WHERE id = ?", (state, entry_id))
            entry.state = state
            if record is not None:
                record()
        return entry

    def update(self, entry: Entry, *, record: Record | None = None) -> Entry:
        with self._change(entry.id, None) as (db, old):
            _check(old.state, entry.article)
            names = [*ENTRY_FIELDS, "extra"]
            db.execute(f"UPDATE entries SET ({', '.join(names)}, version) = "
                       f"(?{', ?' * (len(names) - 1)}, nextval('entry_versions')) "
                       "WHERE id = ?", (*_values(entry), entry.id))
            if record is not None:
                record()
        entry.state = old.state
        return entry

    def delete(self, entry_id: str, *, expected: str | None = None,
               record: Record | None = None) -> Entry:
        with self._change(entry_id, expected) as (db, entry):
            db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            if record is not None:
                record()
        return entry

    # -- reading -------------------------------------------------------------
    def ids(self) -> set[str]:
        return {i for (i,) in self.db.execute("SELECT id FROM entries")}

    def find(self, entry_id: str, lock: str = "") -> Entry | None:
        if not is_valid_id(entry_id):
            return None
        row = self.db.execute(f"SELECT {_COLUMNS} FROM entries WHERE id = ?{lock}",
                              (entry_id,)).fetchone()
        return _entry(row) if row else None

    def settled(self, entry_id: str) -> Entry | None:
        """A shared row lock waits for the change in progress (and its record) to commit."""
        return self.find(entry_id, " FOR SHARE")

    def entries(self, state: str, article: str = "", *,
                on_error: str = "warn") -> Iterator[Entry]:
        _check(state, "-")
        where, args = ("state = ? AND article = ?", (state, article)) if article else \
            ("state = ?", (state,))
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM entries WHERE {where} ORDER BY id",
                               args)
        return (_entry(row) for row in rows)

    def approved_by_article(self, *, public_only: bool = False,
                            bodies: bool = True) -> dict[str, list[Entry]]:
        blank = {*(PRIVATE_FIELDS if public_only else ()), *(() if bodies else ("body",))}
        columns = _COLUMNS
        for name in blank:  # not even fetched
            columns = re.sub(rf"\b{name}\b", f"'' AS {name}", columns, count=1)
        grouped: dict[str, list[Entry]] = {}
        for row in self.db.stream(f"SELECT {columns} FROM entries WHERE state = 'approved' "
                                  "ORDER BY article, id"):
            entry = _entry(row)
            grouped.setdefault(entry.article, []).append(entry)
        return grouped

    def body(self, entry: Entry) -> str:
        row = self.db.execute("SELECT body FROM entries WHERE id = ? AND state = 'approved' "
                              "AND article = ?", (entry.id, entry.article)).fetchone()
        if row is None:
            raise EntryNotFound(entry.id)
        return str(row[0])

    def bodies(self, article: str) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, body FROM entries WHERE state = 'approved' "
                                    "AND article = ?", (article,)))

    # -- change detection ----------------------------------------------------
    def approved_stamps(self) -> dict[str, Hashable]:
        # Versions only grow, and every entry moved in or changed takes a new one:
        # (count, highest version) changes with every change, and only then.
        return {article: (count, top) for article, count, top in self.db.execute(
            "SELECT article, count(*), max(version) FROM entries WHERE state = 'approved' "
            "GROUP BY article")}

    def entry_stamps(self) -> dict[str, tuple[str, Hashable]]:
        return {i: (state, version) for i, state, version in self.db.execute(
            "SELECT id, state, version FROM entries")}

    # -- the audit log -------------------------------------------------------
    def append_audit(self, records: list[dict[str, Any]]) -> None:
        with self.db.transaction() as db:  # joins a change's open transaction
            db.executemany("INSERT INTO audit (entry, record) VALUES (?, ?)", [
                (str(item.get("entry", "")), json.dumps(item, ensure_ascii=False,
                                                        sort_keys=True)) for item in records])

    def audit_trail(self, entry_id: str | None = None) -> Iterator[dict[str, Any]]:
        where, args = ("WHERE entry = ?", (entry_id,)) if entry_id is not None else ("", ())
        rows = self.db.execute(f"SELECT record FROM audit {where} ORDER BY seq", args)
        return (json.loads(record) for (record,) in rows)
