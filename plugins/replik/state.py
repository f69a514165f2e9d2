"""The state: what every server process shares and no restart may lose.

The comment store holds the entries. The state holds the small facts the server
processes (gunicorn workers, app nodes, the CLI) must share and keep across
restarts: the desk's login attempts and sessions, the one-click links already
used, the webmention queue, the linkbacks we sent and the posts we published,
how the last rebuild went, and the readers' reply subscriptions and the outgoing
mail queue (``subscriptions.py``). It is state, not a cache: nothing in it can be
derived from the store, so it is not in ``REPLIK_CACHE``. Each concern has its
own table and a small class whose methods say what they do (``state.logins``,
``state.links``, …): their docstrings are the contract, and
``tests/test_state_contract.py`` holds both backends to it.

The backend is a ``Database`` (below): one SQLite file beside the store
(``REPLIK_STATE``; by default ``state.sqlite3`` in the store folder), or the
PostgreSQL database named by the environment variable ``REPLIK_DATABASE_URL``
(``pg.py``), which several app nodes share. The SQL is written once, in the
subset both speak (``?`` parameter marks, ``INSERT … ON CONFLICT``, ``RETURNING``).

SQLite: one connection per thread and process (a connection never crosses a
fork), WAL so that readers do not wait for a writer, a busy timeout so that
writers queue instead of failing, and the schema made on first use. Every
``transaction()`` is exclusive (``BEGIN IMMEDIATE``). The file holds client
addresses and session hashes, so it is readable by its owner only.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .settings import Settings, project_path, store_path

FILE_NAME = "state.sqlite3"
BUSY_TIMEOUT_SECONDS = 30.0

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
    "user" TEXT NOT NULL,
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
CREATE TABLE IF NOT EXISTS used_links (
    nonce TEXT NOT NULL,                -- the one-click link's random part
    entry TEXT NOT NULL,
    expires REAL NOT NULL,              -- the link's own expiry: the row may go then
    PRIMARY KEY (nonce, entry)
);
CREATE TABLE IF NOT EXISTS webmention_queue (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    received REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0, -- a retry waits until then
    leased_until REAL NOT NULL DEFAULT 0 -- claimed by a worker until then
);
CREATE TABLE IF NOT EXISTS sent_linkbacks (
    source TEXT NOT NULL,               -- our post's absolute URL
    target TEXT NOT NULL,               -- the page it links to
    hash TEXT NOT NULL,                 -- the post's content hash when sent, or "deleted"
    via TEXT NOT NULL,                  -- webmention | pingback | none
    ok INTEGER NOT NULL,
    endpoint TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    time TEXT NOT NULL DEFAULT '',
    removed INTEGER NOT NULL DEFAULT 0, -- sent because the post no longer links there
    deleted INTEGER NOT NULL DEFAULT 0, -- sent because the post is gone
    PRIMARY KEY (source, target)
);
CREATE TABLE IF NOT EXISTS published_posts (
    url TEXT PRIMARY KEY                -- site-relative URL of a post seen at the public address
);
CREATE TABLE IF NOT EXISTS rebuild_status (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    ok_started REAL,                    -- the last good rebuild: when it started
    ok_finished REAL,
    written INTEGER,
    error TEXT,                         -- the last failure ("" after a good rebuild)
    failed_at REAL
);
""" + (REBUILD_REQUESTS := """
CREATE TABLE IF NOT EXISTS rebuild_requests (  -- decisions waiting for approve-to-live
    id INTEGER PRIMARY KEY,
    asked REAL NOT NULL,
    leased_until REAL NOT NULL DEFAULT 0
);
""")


def state_path(settings: Settings) -> Path:
    """``REPLIK_STATE`` (relative to the project), or ``state.sqlite3`` in the store."""
    value = settings.state
    return project_path(settings, value) if value else store_path(settings) / FILE_NAME


class Database(Protocol):
    """What the state runs on (``SQLite`` below, ``pg.PgDatabase``).

    ``execute`` runs one statement on its own and returns its rows (iterable, with
    ``fetchone``/``fetchall``/``rowcount``). ``transaction(lock)`` yields an object
    with ``execute``/``executemany``, committed if the block ends, else rolled back;
    transactions naming the same ``lock`` run one at a time, across every process
    and node (a check-then-write). A claim selects with ``skip_locked`` appended, so
    that two claimers never get the same row. ``mutex(name)`` holds a named lock
    against every other process for as long as the block runs (no data: the rebuild).
    """

    skip_locked: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def transaction(self, lock: str = "") -> AbstractContextManager[Any]: ...
    def mutex(self, name: str) -> AbstractContextManager[None]: ...


class SQLite:
    """The state file."""

    skip_locked = ""  # every write transaction is exclusive anyway

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def __str__(self) -> str:
        return str(self.path)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (a new one in a forked child)."""
        db = getattr(self._local, "db", None)
        if db is not None and self._local.pid == os.getpid():
            return db
        _create(self.path)
        # The timeout is SQLite's busy timeout: writers queue instead of failing.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode = WAL")  # a file made by other means
        db.execute("PRAGMA synchronous = FULL")  # a committed change survives a power cut
        db.executescript(SCHEMA)  # tables added since the file was made
        self._local.db = db
        self._local.pid = os.getpid()
        return db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.connection().execute(sql, params)

    @contextmanager
    def transaction(self, lock: str = "") -> Iterator[sqlite3.Connection]:
        """An exclusive write transaction (whatever the lock's name)."""
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")
        with db:  # commits, or rolls back on any exception
            yield db

    def lock_path(self, name: str) -> Path:
        return self.path.with_name(f"{self.path.name}.{name}.lock")

    @contextmanager
    def mutex(self, name: str) -> Iterator[None]:
        """An ``flock`` on a file beside the state file.

        Not in the cache: a lock file deleted while held (the cache cleared)
        would let the next process in beside its holder.
        """
        path = self.lock_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class State:
    """The state, with one table (and one attribute) per concern."""

    def __init__(self, db: Database | Path) -> None:
        self.db: Database = SQLite(db) if isinstance(db, Path) else db
        self.execute = self.db.execute
        self.transaction = self.db.transaction
        self.mutex = self.db.mutex
        self.logins = LoginAttempts(self)
        self.sessions = Sessions(self)
        self.links = UsedLinks(self)
        self.webmentions = WebmentionQueue(self)
        self.sent = SentLinkbacks(self)
        self.rebuild = RebuildStatus(self)
        self.rebuilds = RebuildRequests(self)
        from .subscriptions import Outbox, Subscriptions  # they build on this module

        self.subscriptions = Subscriptions(self)
        self.outbox = Outbox(self)


class Table:
    """One concern's table, on the state's database."""

    def __init__(self, state: State) -> None:
        self.state = state


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


_open: dict[Path | str, State] = {}
_open_lock = threading.Lock()


def database_url() -> str:
    """``REPLIK_DATABASE_URL``: the PostgreSQL database, or "" for files. Read from
    the environment only, as it holds a password."""
    return os.environ.get("REPLIK_DATABASE_URL", "").strip()


def open_state(settings: Settings) -> State:
    """The process's one ``State``: in PostgreSQL when ``REPLIK_DATABASE_URL`` is
    set, else in the settings' state file.

    The first open of a state file in a process moves what older versions kept in
    files into it (see ``state_upgrade``).
    """
    url = database_url()
    key = url or state_path(settings)
    with _open_lock:
        if key not in _open:
            if url:
                from .pg import database

                _open[key] = State(database(url))
            else:
                from .state_upgrade import upgrade

                state = State(state_path(settings))
                upgrade(state, settings)
                _open[key] = state
        return _open[key]


# -- login attempts -------------------------------------------------------------
def address_key(address: str) -> str:
    """The key an address is counted under: itself, or its /64 for IPv6."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class LoginAttempts(Table):
    """Recent login attempts: each is counted before its password is checked.

    ``reserve`` decides and counts in one transaction, so however many requests
    arrive at once, in however many processes, no more are checked than allowed.
    An attempt that is still being checked counts like a failure; a success
    takes its own attempt and its address's failures back. Rows older than the
    window are dropped.
    """

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
        with self.state.transaction("logins") as db:
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
            return db.execute(
                "INSERT INTO login_attempts (account, address, at) VALUES (?, ?, ?) "
                "RETURNING id", (account, address, now)).fetchone()[0], 0.0

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

    def forget(self, addresses: Iterable[str]) -> int:
        """Drop the attempts from these addresses (a person's data is erased)."""
        wanted = [(a,) for a in {address_key(a) for a in addresses if a}]
        with self.state.transaction() as db:
            return sum(db.execute("DELETE FROM login_attempts WHERE address = ?", a).rowcount
                       for a in wanted)


# -- sessions ---------------------------------------------------------------------
def _key(session_id: str) -> str:
    # Only a hash is stored: the file alone does not let anyone into the desk.
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions(Table):
    """Desk sessions: the cookie carries a random id, the row says who and since when.

    A session is alive while its row exists, it was used within ``idle`` seconds
    and started less than ``lifetime`` seconds ago. Logging out deletes the row,
    so a copied cookie is worthless afterwards.
    """

    def start(self, user: str, *, idle: float, lifetime: float) -> str:
        """A new session for ``user``; returns its id (for the cookie)."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        with self.state.transaction() as db:
            # Ended sessions nobody logged out of are cleared here.
            db.execute("DELETE FROM sessions WHERE seen <= ? OR started <= ?",
                       (now - idle, now - lifetime))
            db.execute('INSERT INTO sessions (key, "user", started, seen) VALUES (?, ?, ?, ?)',
                       (_key(session_id), user, now, now))
        return session_id

    def use(self, session_id: str, *, idle: float, lifetime: float) -> tuple[str | None, str]:
        """``(user, "")`` for a live session, now marked as used; else ``(None, why)``
        with why ``"idle"`` or ``"lifetime"`` (the row is deleted) or ``"unknown"``."""
        now = time.time()
        key = _key(session_id)
        with self.state.transaction() as db:
            row = db.execute('SELECT "user", started, seen FROM sessions WHERE key = ?',
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


# -- used one-click links ------------------------------------------------------------
class UsedLinks(Table):
    """One-click links (notify.py) that have acted: each link works once.

    Spending a link is one INSERT under its (nonce, entry) key, so of two uses at
    once, in however many processes, exactly one wins. A row may go when its link
    expires: an expired link is refused before it is looked up here.
    """

    def spend(self, nonce: str, entry: str, expires: float) -> bool:
        """Mark the link used; False if it was used already."""
        with self.state.transaction() as db:
            db.execute("DELETE FROM used_links WHERE expires < ?", (time.time(),))
            cursor = db.execute(
                "INSERT INTO used_links (nonce, entry, expires) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (nonce, entry, expires))
            return cursor.rowcount == 1

    def spent(self, nonce: str, entry: str) -> bool:
        row = self.state.execute(
            "SELECT 1 FROM used_links WHERE nonce = ? AND entry = ?", (nonce, entry)).fetchone()
        return row is not None

    def give_back(self, nonce: str, entry: str) -> None:
        """Make a spent link usable again (its decision could not be saved)."""
        with self.state.transaction() as db:
            db.execute("DELETE FROM used_links WHERE nonce = ? AND entry = ?", (nonce, entry))


# -- the webmention queue ------------------------------------------------------------
@dataclass
class Job:
    """A received webmention waiting for verification."""

    source: str
    target: str
    ip: str = ""
    user_agent: str = ""
    received: float = 0.0
    attempts: int = 0
    not_before: float = 0.0
    id: int = 0  # given by the queue


_JOB_COLUMNS = "id, source, target, ip, user_agent, received, attempts, not_before"


class WebmentionQueue(Table):
    """Received webmentions waiting for verification (W3C Webmention §3.2.2, later).

    A worker ``claim``s ready jobs with a lease: they are its own until the lease
    runs out, so the jobs of a worker that died come back by themselves. ``done``
    removes a job, ``retry`` puts it back for a later attempt. (On a database
    server the claim is ``SELECT … FOR UPDATE SKIP LOCKED``: two claimers never get
    the same job.)
    """

    LEASE_SECONDS = 600.0

    def put(self, job: Job) -> int:
        """Add a job; returns its id."""
        job.received = job.received or time.time()
        with self.state.transaction() as db:
            job.id = db.execute(
                "INSERT INTO webmention_queue (source, target, ip, user_agent, received, "
                "attempts, not_before) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (job.source, job.target, job.ip, job.user_agent, job.received, job.attempts,
                 job.not_before)).fetchone()[0]
        return job.id

    def claim(self, limit: int = 1, *, lease: float = LEASE_SECONDS,
              now: float | None = None) -> list[Job]:
        """Up to ``limit`` ready jobs, oldest first, leased to the caller."""
        now = time.time() if now is None else now
        with self.state.transaction() as db:
            rows = db.execute(
                f"SELECT {_JOB_COLUMNS} FROM webmention_queue WHERE not_before <= ? "
                "AND leased_until <= ? ORDER BY id LIMIT ?" + self.state.db.skip_locked,
                (now, now, limit)).fetchall()
            db.executemany("UPDATE webmention_queue SET leased_until = ? WHERE id = ?",
                           [(now + lease, row[0]) for row in rows])
        return [Job(*row[1:], id=row[0]) for row in rows]

    def done(self, job_id: int) -> None:
        with self.state.transaction() as db:
            db.execute("DELETE FROM webmention_queue WHERE id = ?", (job_id,))

    def retry(self, job_id: int, delay: float) -> None:
        """Give a claimed job back, to be tried again in ``delay`` seconds."""
        with self.state.transaction() as db:
            db.execute("UPDATE webmention_queue SET attempts = attempts + 1, not_before = ?, "
                       "leased_until = 0 WHERE id = ?", (time.time() + delay, job_id))

    def jobs(self) -> list[Job]:
        """Every job in the queue (ready, claimed or waiting for a retry)."""
        rows = self.state.execute(
            f"SELECT {_JOB_COLUMNS} FROM webmention_queue ORDER BY id").fetchall()
        return [Job(*row[1:], id=row[0]) for row in rows]

    def __len__(self) -> int:
        row = self.state.execute("SELECT count(*) FROM webmention_queue").fetchone()
        return int(row[0])

    def forget(self, addresses: Iterable[str]) -> int:
        """Blank the client address and agent of jobs sent from these addresses."""
        wanted = [(a,) for a in set(addresses) if a]
        with self.state.transaction() as db:
            return sum(db.execute("UPDATE webmention_queue SET ip = '', user_agent = '' "
                                  "WHERE ip = ?", a).rowcount for a in wanted)


# -- linkbacks we sent ------------------------------------------------------------------
_SENT_FIELDS = ("hash", "via", "ok", "endpoint", "detail", "time", "removed", "deleted")


class SentLinkbacks(Table):
    """What ``replik linkbacks send`` told whom, and which of our posts were published.

    Per (source, target): the post's content hash when it was sent, how (webmention,
    pingback, none), whether it worked, and why it was sent (a removed link, a
    deleted post). The published posts (site-relative URLs) tell the build which
    addresses answer 410 Gone (gone.py). Each record is written at once, so an
    interrupted run never sends twice.
    """

    def get(self, source: str, target: str) -> dict[str, Any] | None:
        row = self.state.execute(
            f"SELECT {', '.join(_SENT_FIELDS)} FROM sent_linkbacks "
            "WHERE source = ? AND target = ?", (source, target)).fetchone()
        if row is None:
            return None
        record = dict(zip(_SENT_FIELDS, row, strict=True))
        for flag in ("ok", "removed", "deleted"):
            record[flag] = bool(record[flag])
        return record

    def targets(self, source: str) -> list[str]:
        return [t for (t,) in self.state.execute(
            "SELECT target FROM sent_linkbacks WHERE source = ? ORDER BY target", (source,))]

    def sources(self) -> list[str]:
        return [s for (s,) in self.state.execute(
            "SELECT DISTINCT source FROM sent_linkbacks ORDER BY source")]

    def record(self, source: str, target: str, record: dict[str, Any]) -> None:
        """Remember what was sent for the pair (replacing what was before)."""
        with self.state.transaction() as db:
            self.insert(db, source, target, record)

    @staticmethod
    def insert(db: Any, source: str, target: str, record: dict[str, Any],
               *, replace: bool = True) -> None:
        """Write one record in an open transaction (``replace=False`` keeps one there)."""
        values = {"hash": "", "via": "none", "ok": False, "endpoint": "", "detail": "",
                  "time": "", "removed": False, "deleted": False}
        values.update({k: record[k] for k in _SENT_FIELDS if record.get(k) is not None})
        for flag in ("ok", "removed", "deleted"):
            values[flag] = int(bool(values[flag]))  # PostgreSQL has no bool-to-int cast
        update = ", ".join(f"{k} = excluded.{k}" for k in _SENT_FIELDS)
        db.execute(
            f"INSERT INTO sent_linkbacks (source, target, {', '.join(_SENT_FIELDS)})"
            f" VALUES (?, ?{', ?' * len(_SENT_FIELDS)}) ON CONFLICT (source, target) DO "
            + (f"UPDATE SET {update}" if replace else "NOTHING"),
            (source, target, *(values[k] for k in _SENT_FIELDS)))

    def published(self) -> set[str]:
        """The site-relative URLs of every post ever seen published."""
        return {u for (u,) in self.state.execute("SELECT url FROM published_posts")}

    def publish(self, urls: Iterable[str]) -> None:
        """Add posts to the published ones (a post, once published, stays in the list)."""
        with self.state.transaction() as db:
            db.executemany("INSERT INTO published_posts (url) VALUES (?) ON CONFLICT DO NOTHING",
                           [(str(u),) for u in urls])


# -- rebuild requests --------------------------------------------------------------------
class RebuildRequests(Table):
    """Decisions waiting to be put live: the app ``put``s one, a rebuilder (the
    server's thread or ``replik worker``) ``claim``s every ready one for one rebuild
    (``SKIP LOCKED`` on a database server), then marks them ``done`` or, when the
    rebuild failed, ``release``s them. A claim is a lease: the requests of a worker
    that died come back by themselves."""

    LEASE_SECONDS = 600.0

    def put(self) -> float:
        """Ask for a rebuild; returns the time asked (to compare with ``ok_started``)."""
        asked = time.time()
        self.state.execute("INSERT INTO rebuild_requests (asked) VALUES (?)", (asked,))
        return asked

    def claim(self, lease: float = LEASE_SECONDS) -> dict[int, float]:
        """Every ready request (id -> time asked), leased to the caller."""
        now = time.time()
        with self.state.transaction() as db:
            rows = db.execute("SELECT id, asked FROM rebuild_requests WHERE leased_until <= ?"
                              + self.state.db.skip_locked, (now,)).fetchall()
            db.executemany("UPDATE rebuild_requests SET leased_until = ? WHERE id = ?",
                           [(now + lease, row[0]) for row in rows])
        return {int(i): float(asked) for i, asked in rows}

    def done(self, ids: Iterable[int]) -> None:
        with self.state.transaction() as db:
            db.executemany("DELETE FROM rebuild_requests WHERE id = ?", [(i,) for i in ids])

    def release(self, ids: Iterable[int]) -> None:
        with self.state.transaction() as db:
            db.executemany("UPDATE rebuild_requests SET leased_until = 0 WHERE id = ?",
                           [(i,) for i in ids])

    def ready(self) -> int:
        """How many requests wait for a rebuilder."""
        row = self.state.execute("SELECT count(*) FROM rebuild_requests WHERE leased_until <= ?",
                                 (time.time(),)).fetchone()
        return int(row[0]) if row else 0


# -- rebuild status ----------------------------------------------------------------------
class RebuildStatus(Table):
    """How the desk's last rebuild went (rebuild.py), for every server process.

    ``ok_started``/``ok_finished``/``written`` describe the last good rebuild,
    ``error``/``failed_at`` the last failure (``error`` is "" after a good one).
    """

    FIELDS = ("ok_started", "ok_finished", "written", "error", "failed_at")

    def read(self) -> dict[str, Any]:
        """The status, without the fields never set (empty before the first rebuild)."""
        row = self.state.execute(
            f"SELECT {', '.join(self.FIELDS)} FROM rebuild_status WHERE id = 1").fetchone()
        if row is None:
            return {}
        return {k: v for k, v in zip(self.FIELDS, row, strict=True) if v is not None}

    def succeeded(self, started: float, finished: float, written: int) -> None:
        self._set(ok_started=started, ok_finished=finished, written=written, error="")

    def failed(self, error: str, at: float) -> None:
        self._set(error=error, failed_at=at)

    def _set(self, **values: Any) -> None:
        names = list(values)
        with self.state.transaction() as db:
            db.execute(
                f"INSERT INTO rebuild_status (id, {', '.join(names)}) "
                f"VALUES (1{', ?' * len(names)}) ON CONFLICT (id) DO UPDATE SET "
                + ", ".join(f"{n} = excluded.{n}" for n in names),
                tuple(values.values()))
