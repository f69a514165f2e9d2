"""The comment store's contract: what every store implementation promises.

Everything that reads or writes comment data (entries and the audit log of the
decisions on them) goes through a ``CommentStore``. Each method's docstring *is*
the contract: tests/test_store_contract.py checks it for every implementation
(``store.Store``, ``pgstore.PgStore``); ``open_store`` picks the one a site uses.

Common rules:

- An entry is in exactly one state of ``STATES`` at any moment. ``Entry.state``
  says which; it is set by the store, never stored with the entry's fields.
- Every change is atomic and durable when the method returns: a reader sees the
  entry before or after it, never half of it, and a crash loses nothing
  acknowledged. Many processes may use one store at once.
- A store keeps every field of ``Entry`` exactly (private ones included: they
  never leave the store through the build, see ``approved_by_article``).
- ``record``: a change may take a callable, run once the change is made but
  before it counts as done. If it raises, the change is undone and the exception
  goes on. Moderation appends its audit record there (``audit``), so a decision
  and its record are kept or lost together.
- Errors: ``EntryNotFound`` for an id the store does not hold, ``StateChanged``
  for a compare-and-set that lost, ``StoreError`` for anything else the store
  refuses (its message says why). Storage failures (a full disk, a database that
  cannot be reached) raise ``OSError`` (e.g. ``ConnectionError``), never leaving a
  change half done: callers answer them with "nothing was changed, try again".
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from .settings import Settings

STATES = ("pending", "approved", "spam", "trash")
TYPES = ("comment", "pingback", "trackback", "webmention")
LINKBACK_TYPES = ("pingback", "trackback", "webmention")
#: Fields that identify a person and must never reach any output.
PRIVATE_FIELDS = ("email", "ip", "user_agent", "referrer")
_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}$")


class StoreError(Exception):
    """A store operation that cannot be done; the message says why."""


class EntryNotFound(StoreError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"no entry with id {entry_id!r} in the comment store")
        self.entry_id = entry_id


class StateChanged(StoreError):
    """A change asked for from a state the entry is no longer in (someone was faster).

    ``actual`` is its state now ("" when it is gone); ``by`` may be set to the audit
    record of the decision that came first (see ``moderation``).
    """

    def __init__(self, entry_id: str, expected: str, actual: str) -> None:
        super().__init__(entry_id)
        self.entry_id, self.expected, self.actual = entry_id, expected, actual
        self.by: dict[str, Any] | None = None

    def __str__(self) -> str:
        who = f" by {self.by.get('actor')}" if self.by else ""
        now = f"it is {self.actual} now" if self.actual else "it no longer exists"
        return (f"entry {self.entry_id} was already decided{who}: {now}, not"
                f" {self.expected}; nothing was changed")


def new_id(when: datetime | None = None, token: str | None = None) -> str:
    """A unique id that sorts by time: ``20260305T114700123456Z-1a2b3c4d``.

    ``token`` (8 hex digits) makes the id reproducible, e.g. for imports.
    """
    when = (when or datetime.now(UTC)).astimezone(UTC)
    token = token or secrets.token_hex(4)
    return f"{when:%Y%m%dT%H%M%S%f}Z-{token}"


def is_valid_id(entry_id: str) -> bool:
    return bool(_ID_RE.match(entry_id))


@dataclass(slots=True)
class Entry:
    """One comment, pingback, trackback or webmention."""

    id: str
    article: str
    body: str
    date: datetime
    type: str = "comment"
    author: str = ""
    url: str = ""
    reply_to: str = ""
    staff: bool = False
    title: str = ""  # linkbacks: the linking post's title
    source: str = ""  # linkbacks: the linking post's URL
    spam_verdict: str = ""  # ham | spam | discard | unchecked | ""
    spam_reason: str = ""
    email: str = ""
    ip: str = ""
    user_agent: str = ""
    referrer: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    # Where the entry is; set by the store, never stored as a field.
    state: str = field(default="pending", compare=False)

    @property
    def is_linkback(self) -> bool:
        return self.type in LINKBACK_TYPES

    def public(self) -> Entry:
        """A copy without the private fields."""
        return replace(self, **{name: "" for name in PRIVATE_FIELDS})

    def drop_private(self) -> Entry:
        """Blank the private fields of this entry itself (no copy); returns it."""
        self.email = self.ip = self.user_agent = self.referrer = ""
        return self


ENTRY_FIELDS = tuple(f.name for f in fields(Entry) if f.name not in ("extra", "state"))
Record = Callable[[], Any]


class CommentStore(Protocol):
    """The contract of a comment store (see the module's common rules). An
    implementation subclasses it to inherit ``get``, ``all_entries`` and ``audit``,
    written here once on top of the other methods."""

    #: Where the store is, for messages ("comments/", a database without password).
    location: str

    # -- setting up ----------------------------------------------------------
    def ensure(self) -> None:
        """Make the store ready to be written (folders, tables); idempotent."""

    def sweep(self) -> list[Any]:
        """Repair what a process that died in the middle of a change left behind, so
        the entry is as before the change; returns what was repaired (for a log).
        The server and the CLI call it at start. A change in progress in a live
        process is left alone. A store with transactions has nothing to repair."""

    # -- writing -------------------------------------------------------------
    def add(self, entry: Entry, state: str = "pending", *, fresh: bool = False,
            record: Record | None = None) -> Entry:
        """Store a new entry in ``state``; returns it, its ``state`` set.

        Raises StoreError for an invalid id (``is_valid_id``), an unknown state, an
        approved entry without a usable ``article``, or an id the store holds
        already, in any state (of two concurrent adds of one id exactly one wins).
        ``fresh=True`` promises the id was just made by ``new_id()``: a store may
        then skip the look-up in the other states.
        """

    def add_many(self, items: Iterable[tuple[Entry, str]]) -> list[Entry]:
        """``add`` for many ``(entry, state)`` at a fraction of the cost (imports);
        returns the entries not stored because their id was taken (the caller makes
        sure none is in another state: ``ids()``). After a crash some may be stored:
        the caller repeats (imports make reproducible ids)."""

    def move(self, entry_id: str, state: str, *, expected: str | None = None,
             record: Record | None = None) -> Entry:
        """Put an entry into ``state``; returns it with its new state.

        ``expected`` makes the move compare-and-set on the state the caller saw:
        it is done only if the entry is in ``expected`` at that moment, so of two
        decisions made from the same state exactly one wins; the other raises
        StateChanged (``actual``: the state now, "" if gone) and changes nothing.
        Without ``expected`` the entry moves from wherever it is; EntryNotFound if
        it is nowhere. Moving to the state it is in changes nothing (``record`` is
        not run)."""

    def update(self, entry: Entry, *, record: Record | None = None) -> Entry:
        """Replace the fields of the stored entry with ``entry.id`` by those of
        ``entry``, in the state it is in (returned, ``state`` set); EntryNotFound
        if there is none. StoreError if another change of it is in progress (the
        caller may try again)."""

    def delete(self, entry_id: str, *, expected: str | None = None,
               record: Record | None = None) -> Entry:
        """Remove an entry for good; returns it as it was. ``expected`` as in
        ``move`` (StateChanged when it lost); without it EntryNotFound if absent."""

    # -- reading -------------------------------------------------------------
    def ids(self) -> set[str]:
        """The id of every entry, in every state, cheaply (no entry is read)."""

    def find(self, entry_id: str) -> Entry | None:
        """The entry with all its fields and its state now, or None (also for an
        id that is not valid). A concurrent move never makes it look absent."""

    def get(self, entry_id: str) -> Entry:
        """``find``, but EntryNotFound instead of None."""
        if (found := self.find(entry_id)) is None:
            raise EntryNotFound(entry_id)
        return found

    def settled(self, entry_id: str) -> Entry | None:
        """``find`` once a change of the entry in progress elsewhere (if any) is
        done and its record written: whoever lost a compare-and-set reads the
        winner's state and audit record after this."""

    def entries(self, state: str, article: str = "", *,
                on_error: str = "warn") -> Iterator[Entry]:
        """The entries in ``state`` (only those of ``article`` if given), oldest
        id first. An entry the store cannot read is logged and skipped, or with
        ``on_error="raise"`` raises StoreError. StoreError for an unknown state."""

    def all_entries(self, *, on_error: str = "warn") -> Iterator[Entry]:
        """``entries`` of every state, in ``STATES`` order."""
        for state in STATES:
            yield from self.entries(state, on_error=on_error)

    def approved_by_article(self, *, public_only: bool = False,
                            bodies: bool = True) -> dict[str, list[Entry]]:
        """Every approved entry grouped by article, for the build: slugs in sorted
        order, each list oldest id first, articles without entries left out.
        ``public_only`` leaves the private fields empty, ``bodies=False`` the texts
        (the build reads them one thread at a time with ``body``)."""

    def body(self, entry: Entry) -> str:
        """The current text of an approved entry read without it; raises
        EntryNotFound if it is no longer approved under ``entry.article``."""

    def bodies(self, article: str) -> dict[str, str]:
        """The texts of the approved entries of ``article`` by id, without their other
        fields: the build reads one thread's texts at a time. An entry whose other
        fields cannot be read may still be here (so a caller can tell that entries
        are missing)."""

    # -- change detection ----------------------------------------------------
    def approved_stamps(self) -> dict[str, Hashable]:
        """For each article with approved entries, a value that changes whenever
        any of them changes (added, updated, deleted, moved in or out) and stays
        equal while none does. Cheap: no entry is read. Approve-to-live compares
        two of these to find the pages to render again."""

    def entry_stamps(self) -> dict[str, tuple[str, Hashable]]:
        """For every entry, by id, its state and a value that changes whenever the
        entry is changed (updated, moved) and stays equal while it is not. Cheap:
        no entry is read. Caches of parsed entries (the desk, the report) read
        again only the entries whose pair changed."""

    # -- the audit log -------------------------------------------------------
    def audit(self, actor: str, action: str, entry_id: str = "", from_state: str = "",
              to_state: str = "", **detail: Any) -> dict[str, Any]:
        """Append one record to the audit log durably and return it: ``time`` (UTC,
        ISO 8601, seconds), ``actor``, ``action``, ``entry``, ``from``, ``to`` and,
        if given, ``detail`` (JSON values; never an e-mail or IP address). Raises
        OSError or StoreError when it cannot be written. Called in a change's
        ``record``, it is kept or lost with that change."""
        item = audit_record(actor, action, entry_id, from_state, to_state, detail)
        self.append_audit([item])
        return item

    def audit_trail(self, entry_id: str | None = None) -> Iterator[dict[str, Any]]:
        """The audit records in the order appended (only those about
        ``entry_id`` if given); a record that cannot be read is skipped."""

    def append_audit(self, records: list[dict[str, Any]]) -> None:
        """Append records as they are (``audit`` makes one; a migration copies many)."""


def audit_record(actor: str, action: str, entry_id: str, from_state: str, to_state: str,
                 detail: dict[str, Any]) -> dict[str, Any]:
    """One audit record (see ``CommentStore.audit``), made alike by every store."""
    item: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"), "actor": actor,
        "action": action, "entry": entry_id, "from": from_state, "to": to_state,
    }
    if detail:
        item["detail"] = detail
    return item


def last_decision(store: CommentStore, entry_id: str) -> dict[str, Any] | None:
    """The newest audit record that moved ``entry_id`` to another state."""
    moves = [item for item in store.audit_trail(entry_id)
             if item.get("to") and item.get("to") != item.get("from")]
    return moves[-1] if moves else None


def open_store(settings: Settings) -> CommentStore:
    """The store a site uses (the one place that chooses): PostgreSQL when the
    environment names one in ``REPLIK_DATABASE_URL``, else the file store in
    ``REPLIK_STORE``."""
    from .state import database_url

    if url := database_url():
        from .pg import database
        from .pgstore import PgStore

        return PgStore(database(url))
    from .settings import store_path
    from .store import Store

    return Store(store_path(settings))
