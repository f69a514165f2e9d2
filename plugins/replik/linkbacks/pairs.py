"""Which sources have linked to which article: a derived index in the cache folder.

Looking a pair up in the store means reading every pending, spam and trashed
entry, which a flood of pings would turn into a lot of disk reads. This SQLite
file answers from an index instead. It is derived data: built from the store
when it is missing or older than ``RESEED_SECONDS`` (so entries written by other
tools, e.g. an import, are seen within minutes), updated whenever a linkback is
stored, and every hit is confirmed against the store before it counts. A file
deleted under a running server (the cache cleared) is noticed at the next
lookup and built again, so no process goes on writing to the deleted one.

The file store only: a database store (``REPLIK_DATABASE_URL``) is asked by
article directly, so that every app node sees every pair at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from ..settings import Settings, cache_path
from ..store import Store
from ..storespec import LINKBACK_TYPES, STATES, CommentStore, Entry
from .html import normalize_source

RESEED_SECONDS = 600.0


class PairIndex:
    def __init__(self, settings: Settings, store: CommentStore) -> None:
        self.path: Path = cache_path(settings) / "linkbacks.sqlite3"
        self.store = store
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is not None and self._local.inode != _inode(self.path):
            db.close()  # deleted or replaced since: its rows would reach no other process
            db = None
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(
                """
                CREATE TABLE IF NOT EXISTS pairs (
                    article TEXT NOT NULL, source TEXT NOT NULL, entry TEXT NOT NULL,
                    PRIMARY KEY (article, source, entry));
                CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value REAL);
                """
            )
            self._local.db = db
            self._local.inode = _inode(self.path)
        row = db.execute("SELECT value FROM meta WHERE name = 'seeded'").fetchone()
        if row is None or time.time() - row[0] > RESEED_SECONDS:
            self._seed(db)
        return db

    def _seed(self, db: sqlite3.Connection) -> None:
        rows = [
            (e.article, normalize_source(e.source), e.id)
            for state in STATES
            for e in self.store.entries(state)
            if e.type in LINKBACK_TYPES and e.source
        ]
        # Only adds: a row of an entry stored meanwhile must not be lost; rows of
        # entries that are gone are dropped when a lookup fails to confirm them.
        with db:  # commits the transaction begun here, or rolls it back
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR IGNORE INTO pairs VALUES (?, ?, ?)", rows)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('seeded', ?)", (time.time(),))

    def add(self, entry: Entry) -> None:
        if not isinstance(self.store, Store):
            return
        self._db().execute("INSERT OR IGNORE INTO pairs VALUES (?, ?, ?)",
                           (entry.article, normalize_source(entry.source), entry.id))

    def find(self, source: str, article: str) -> Entry | None:
        """The stored linkback from ``source`` to ``article`` (confirmed in the store)."""
        key = normalize_source(source)
        if not isinstance(self.store, Store):
            # A database answers by article at once, the same for every app node.
            return next((e for state in STATES for e in self.store.entries(state, article)
                         if e.is_linkback and normalize_source(e.source) == key), None)
        db = self._db()
        rows = db.execute("SELECT entry FROM pairs WHERE article = ? AND source = ?",
                          (article, key)).fetchall()
        for (entry_id,) in rows:
            found = self.store.find(entry_id)
            if (found is not None and found.article == article
                    and normalize_source(found.source) == key):
                return found
            db.execute("DELETE FROM pairs WHERE entry = ?", (entry_id,))
        return None


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return -1
