"""The state file: what every server process shares and no restart may lose.

The comment store holds the entries. This one SQLite file beside it
(``REPLIK_STATE``; by default ``state.sqlite3`` in the store folder) holds the
small facts the server processes (gunicorn workers, the CLI) must share and
keep across restarts: the desk's login attempts and its sessions, the
readers' reply subscriptions and the outgoing mail queue (``subscriptions.py``). It is
state, not a cache: deleting it logs every moderator out and forgets recent
failed logins, so it is not in ``REPLIK_CACHE``. More state moves in here later,
each concern in its own table with a small class whose methods say what they do.

One connection per thread and process (a connection never crosses a fork), WAL
so that readers do not wait for a writer, a busy timeout so that writers queue
instead of failing, and the schema made on first use. ``transaction()`` is an
exclusive write transaction (``BEGIN IMMEDIATE``) for a check-then-write that
must be atomic across processes. The file holds client addresses and session
hashes, so it is readable by its owner only.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .settings import project_path, store_path

FILE_NAME = "state.sqlite3"
BUSY_TIMEOUT_MS = 30_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS login_attempts (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    at REAL NOT NULL,
    failed INTEGER NOT NULL DEFAULT 0   -- 0: being checked now, 1: wrong password
);
CREATE INDEX IF NOT EXISTS login_attempts_address ON login_attempts (address);
CREATE INDEX IF NOT EXISTS login_attempts_account ON login_attempts (account);
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY,               -- SHA-256 of the session id in the cookie
    user TEXT NOT NULL,
    started REAL NOT NULL,
    seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,                -- as given (stripped), for the To: header
    email_key TEXT NOT NULL,            -- casefolded, for matching
    name TEXT NOT NULL DEFAULT '',      -- single line, no control characters
    article TEXT NOT NULL,              -- the post's slug: the thread
    entry TEXT NOT NULL DEFAULT '',     -- scope 'replies': answers to this entry
    scope TEXT NOT NULL,                -- 'replies' | 'all'
    origin TEXT NOT NULL DEFAULT '',    -- the reader's own comment that asked for it
    title TEXT NOT NULL DEFAULT '',     -- the post as it was when asked (for the mails)
    permalink TEXT NOT NULL DEFAULT '',
    lang TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    confirmed REAL                      -- NULL until the reader confirmed by mail
);
CREATE UNIQUE INDEX IF NOT EXISTS subscriptions_one
    ON subscriptions (email_key, article, scope, entry);
CREATE INDEX IF NOT EXISTS subscriptions_article ON subscriptions (article);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,                 -- 'confirm' | 'notify'
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    article TEXT NOT NULL,
    subscription INTEGER NOT NULL,      -- the row a link in the mail is bound to
    entries TEXT NOT NULL DEFAULT '[]', -- JSON list of entry ids (a digest has several)
    title TEXT NOT NULL DEFAULT '',
    permalink TEXT NOT NULL DEFAULT '',
    lang TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL,           -- fixed when queued: a re-send is the same mail
    status TEXT NOT NULL,               -- queued | claimed | sending | sent | failed | uncertain
    due REAL NOT NULL,
    lease REAL NOT NULL DEFAULT 0,      -- a claim older than this is free again
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    done REAL
);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, due);
CREATE INDEX IF NOT EXISTS outbox_key ON outbox (email_key, article, status);
CREATE TABLE IF NOT EXISTS notify_facts (
    entry TEXT NOT NULL,                -- an entry id
    fact TEXT NOT NULL,                 -- 'subscribed' (its author confirmed) | 'delivered'
    count INTEGER NOT NULL DEFAULT 1,   -- 'delivered': to how many subscribers
    PRIMARY KEY (entry, fact)
);
"""


def state_path(settings: dict[str, Any]) -> Path:
    """``REPLIK_STATE`` (relative to the project), or ``state.sqlite3`` in the store."""
    value = str(settings.get("REPLIK_STATE") or "")
    return project_path(settings, value) if value else store_path(settings) / FILE_NAME


class State:
    """The state file, with one table (and one attribute) per concern."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.logins = LoginAttempts(self)
        self.sessions = Sessions(self)
        from .subscriptions import Outbox, Subscriptions  # they build on this module

        self.subscriptions = Subscriptions(self)
        self.outbox = Outbox(self)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (a new one in a forked child)."""
        db = getattr(self._local, "db", None)
        if db is not None and self._local.pid == os.getpid():
            return db
        _create(self.path)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                             check_same_thread=True)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode = WAL")  # a file made by other means
        db.execute("PRAGMA synchronous = FULL")  # a committed change survives a power cut
        db.executescript(SCHEMA)  # tables added since the file was made
        self._local.db = db
        self._local.pid = os.getpid()
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An exclusive write transaction: committed if the block ends, else rolled back."""
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _create(path: Path) -> None:
    """Make the file, if missing, in WAL mode with its tables and owner-only.

    It is made under a private name and linked into place, so that processes
    starting together never race to switch a new file to WAL (which SQLite
    answers with "database is locked" at once, busy timeout or not). Nothing
    here opens the file in place: closing any descriptor of a database file
    drops the locks all of this process's connections hold on it.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        db = sqlite3.connect(fresh, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(SCHEMA)
        finally:
            db.close()  # the last connection folds the WAL back into the file
        os.chmod(fresh, 0o600)  # the -wal and -shm files SQLite makes copy this mode
        try:
            os.link(fresh, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    finally:
        for leftover in (fresh, Path(f"{fresh}-wal"), Path(f"{fresh}-shm")):
            leftover.unlink(missing_ok=True)


_open: dict[Path, State] = {}
_open_lock = threading.Lock()


def open_state(settings: dict[str, Any]) -> State:
    """The process's one ``State`` for the settings' state file."""
    path = state_path(settings)
    with _open_lock:
        if path not in _open:
            _open[path] = State(path)
        return _open[path]


# -- login attempts -------------------------------------------------------------
class LoginAttempts:
    """Recent login attempts: each is counted before its password is checked.

    ``reserve`` decides and counts in one transaction, so however many requests
    arrive at once, in however many processes, no more are checked than allowed.
    An attempt that is still being checked counts like a failure; a success
    takes its own attempt and its address's failures back. Rows older than the
    window are dropped.
    """

    def __init__(self, state: State) -> None:
        self.state = state

    def reserve(self, account: str, address: str, *, limit: int, window: float,
                now: float | None = None) -> tuple[int | None, float]:
        """Count an attempt; returns ``(attempt id, 0)``, or ``(None, seconds to wait)``.

        Refused: an address with ``limit`` attempts in the window (whatever the
        account), and, for an account with ``limit`` attempts in the window (from
        anywhere), every address that has an attempt of its own in the window. So
        strangers cannot lock the moderator out: an address without failures may
        still try once.
        """
        now = time.time() if now is None else now
        with self.state.transaction() as db:
            db.execute("DELETE FROM login_attempts WHERE at <= ?", (now - window,))
            from_address = [at for (at,) in db.execute(
                "SELECT at FROM login_attempts WHERE address = ? ORDER BY at", (address,))]
            if len(from_address) >= limit:
                return None, from_address[len(from_address) - limit] + window - now
            if from_address:
                on_account = [at for (at,) in db.execute(
                    "SELECT at FROM login_attempts WHERE account = ? ORDER BY at", (account,))]
                if len(on_account) >= limit:
                    # Allowed again when the account calms down or the address is clean.
                    until = min(on_account[len(on_account) - limit], from_address[-1])
                    return None, until + window - now
            cursor = db.execute(
                "INSERT INTO login_attempts (account, address, at) VALUES (?, ?, ?)",
                (account, address, now))
            return int(cursor.lastrowid or 0), 0.0

    def failed(self, attempt: int) -> int:
        """Mark an attempt as failed; returns the failures now counted for its address."""
        with self.state.transaction() as db:
            db.execute("UPDATE login_attempts SET failed = 1 WHERE id = ?", (attempt,))
            row = db.execute(
                "SELECT count(*) FROM login_attempts WHERE address = "
                "(SELECT address FROM login_attempts WHERE id = ?)", (attempt,)).fetchone()
        return int(row[0]) if row else 0

    def succeeded(self, attempt: int, address: str) -> None:
        """Forget the attempt and the earlier failures from its address."""
        with self.state.transaction() as db:
            db.execute("DELETE FROM login_attempts WHERE id = ? OR (address = ? AND failed = 1)",
                       (attempt, address))


# -- sessions ---------------------------------------------------------------------
def _key(session_id: str) -> str:
    # Only a hash is stored: the file alone does not let anyone into the desk.
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Desk sessions: the cookie carries a random id, the row says who and since when.

    A session is alive while its row exists, it was used within ``idle`` seconds
    and started less than ``lifetime`` seconds ago. Logging out deletes the row,
    so a copied cookie is worthless afterwards.
    """

    def __init__(self, state: State) -> None:
        self.state = state

    def start(self, user: str, *, idle: float, lifetime: float) -> str:
        """A new session for ``user``; returns its id (for the cookie)."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        with self.state.transaction() as db:
            # Ended sessions nobody logged out of are cleared here.
            db.execute("DELETE FROM sessions WHERE seen <= ? OR started <= ?",
                       (now - idle, now - lifetime))
            db.execute("INSERT INTO sessions (key, user, started, seen) VALUES (?, ?, ?, ?)",
                       (_key(session_id), user, now, now))
        return session_id

    def use(self, session_id: str, *, idle: float, lifetime: float) -> tuple[str | None, str]:
        """``(user, "")`` for a live session, now marked as used; else ``(None, why)``
        with why ``"idle"`` or ``"lifetime"`` (the row is deleted) or ``"unknown"``."""
        now = time.time()
        key = _key(session_id)
        with self.state.transaction() as db:
            row = db.execute("SELECT user, started, seen FROM sessions WHERE key = ?",
                             (key,)).fetchone()
            if row is None:
                return None, "unknown"
            user, started, seen = row
            why = "idle" if now - float(seen) > idle else \
                "lifetime" if now - float(started) > lifetime else ""
            if why:
                db.execute("DELETE FROM sessions WHERE key = ?", (key,))
                return None, why
            db.execute("UPDATE sessions SET seen = ? WHERE key = ?", (now, key))
            return str(user), ""

    def end(self, session_id: str) -> None:
        with self.state.transaction() as db:
            db.execute("DELETE FROM sessions WHERE key = ?", (_key(session_id),))
