"""The thread cache: each thread's entries (public fields) and HTML, reused by the next
build while the thread is unchanged in the store (docs/architecture.md, "Caches").

One file, ``REPLIK_CACHE/threads/threads.cache``: per thread a marshal of its
entries' ``store.entry_record`` and one of their HTML by id; then the index (the
code key and, per slug, its ``approved_stamps()`` stamp and where its two parts
lie); then the index's length (8 bytes). A thread is reused when its stamp and the
code key match; the others are read from the store, once each with their texts,
and their entries and HTML are appended to the new file at once (``keep``), to be
read back when the page is written; ``finish`` copies the unchanged
threads over and puts the new file in the old one's place. (One file, not one per
thread: a thousand files cost a cold build 0.3-0.7 s.) A thread with an entry that
could not be read is never kept, so its warning comes in every build. Anything
unexpected in the file means a cold thread or build, never an error.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import sys
from dataclasses import replace
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .store import BadEntryFile, Entry, entry_from_record, entry_record, write_all
from .storespec import CommentStore
from .thread import render_entries

log = logging.getLogger(__name__)

NAME = "threads.cache"
#: The index's length, at the end of the file.
_TAIL = 8
#: What a damaged, foreign or vanished file raises on reading.
_UNUSABLE = (OSError, ValueError, EOFError, TypeError, KeyError, IndexError)

# (stamp, records offset, records length, html offset, html length)
_Place = tuple[tuple[Any, ...], int, int, int, int]


@lru_cache(maxsize=1)
def code_key() -> str:
    """Changes whenever the cached values could: the code that parses the files and
    renders the texts, the libraries that render, Python (marshal's format)."""
    digest = hashlib.sha256(f"replik thread cache 2 {sys.version}".encode())
    here = Path(__file__).parent
    for name in ("store.py", "pgstore.py", "storespec.py", "render.py", "thread_cache.py"):
        digest.update((here / name).read_bytes())
    for dist in ("nh3", "cmarkgfm", "markdown-it-py"):
        try:
            digest.update(f"{dist} {version(dist)}".encode())
        except PackageNotFoundError:
            digest.update(f"{dist} ?".encode())
    return digest.hexdigest()


def _read(fd: int, offset: int, length: int) -> Any:
    """One marshal from the file ``fd``, where an index says it lies."""
    if offset < 0 or length < 0 or offset + length > os.fstat(fd).st_size:
        raise ValueError("the file is shorter than its index says")
    return marshal.loads(os.pread(fd, length, offset))


class ThreadCache:
    """One build's view of the cache: the last build's file (read as asked) and the
    new one (written as the build goes, put in place by ``finish``)."""

    def __init__(self, folder: str | os.PathLike[str], old_fd: int | None = None,
                 old: dict[str, _Place] | None = None) -> None:
        self.folder = os.fspath(folder)
        #: The last build's file, open (a build that replaces it meanwhile does not
        #: disturb the reading), and its threads.
        self._old_fd, self._old = old_fd, old or {}
        #: Threads as the last build saw them: their places in the old file.
        self._matched: dict[str, _Place] = {}
        #: Threads written into the new file by this build.
        self._kept: dict[str, _Place] = {}
        self._new = os.path.join(self.folder, f".{NAME}.{os.getpid()}.tmp")
        self._new_fd: int | None = None
        self._size = 0
        self.reused = 0  # threads whose entries came from the cache (for tests and logs)

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> ThreadCache:
        try:
            fd = os.open(os.path.join(folder, NAME), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # no cache yet
            return cls(folder)
        try:
            end = os.fstat(fd).st_size - _TAIL
            length = int.from_bytes(os.pread(fd, _TAIL, end), "little")
            key, threads = _read(fd, end - length, length)
            if key == code_key() and isinstance(threads, dict):
                return cls(folder, fd, threads)
        except _UNUSABLE as exc:
            log.info("replik: the thread cache in %s is not usable (%s); building anew",
                     folder, exc)
        os.close(fd)
        return cls(folder)

    def read(self, store: CommentStore) -> dict[str, list[Entry]]:
        """Every approved entry by article, as ``approved_by_article(public_only=True,
        bodies=False)`` gives them: the unchanged threads from the cache, the others
        from the store, each read once with its texts, rendered and kept at once (so
        its page needs no second reading of its files)."""
        grouped: dict[str, list[Entry]] = {}
        for slug, stamp in sorted(store.approved_stamps().items()):
            found = self.entries_for(slug, stamp)
            grouped[slug] = self._read_thread(store, slug, stamp) if found is None else found
        return {slug: entries for slug, entries in grouped.items() if entries}

    def _read_thread(self, store: CommentStore, slug: str, stamp: Any) -> list[Entry]:
        try:
            entries = list(store.entries("approved", slug, on_error="raise"))
        except BadEntryFile:
            # Never kept, so its warning comes in every build; its page reads the
            # texts of the others itself.
            return [replace(e, body="") for e in store.entries("approved", slug)]
        records = [entry_record(e) for e in entries]
        self.keep(slug, stamp, records, render_entries(entries))
        # The entries a build holds, as a warm build has them from the cache.
        return [entry_from_record(record) for record in records]

    def entries_for(self, slug: str, stamp: Any) -> list[Entry] | None:
        """The entries of a thread with change stamp ``stamp``, if the last build
        kept them."""
        place = self._old.get(slug)
        if not isinstance(place, tuple) or len(place) != 5 or place[0] != stamp:
            return None
        try:
            assert self._old_fd is not None
            entries = [entry_from_record(record)
                       for record in _read(self._old_fd, place[1], place[2])]
        except _UNUSABLE as exc:
            log.info("replik: the thread cache has no usable entries for %s (%s)", slug, exc)
            return None
        self._matched[slug] = place
        self.reused += 1
        return entries

    def html_for(self, slug: str, entries: list[Entry]) -> dict[str, str] | None:
        """The HTML by entry id of a thread, if it covers every entry of ``entries``:
        rendered by this build (``keep``), or by the last one (``entries_for``)."""
        if slug in self._kept:
            fd, place = self._new_fd, self._kept[slug]
        elif slug in self._matched:
            fd, place = self._old_fd, self._matched[slug]
        else:
            return None
        try:
            assert fd is not None
            html = _read(fd, place[3], place[4])
        except _UNUSABLE as exc:
            log.info("replik: the thread cache has no usable HTML for %s (%s)", slug, exc)
            return None
        if not isinstance(html, dict) or any(entry.id not in html for entry in entries):
            return None
        return html

    def _append(self, data: bytes) -> tuple[int, int]:
        if self._new_fd is None:
            os.makedirs(self.folder, exist_ok=True)
            # Read back too: a thread's HTML, kept as its files are read, is read again
            # when its page is written.
            self._new_fd = os.open(self._new, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        write_all(self._new_fd, data)
        offset, self._size = self._size, self._size + len(data)
        return offset, len(data)

    def keep(self, slug: str, stamp: Any, records: list[tuple[Any, ...]],
             html: dict[str, Any]) -> None:
        """Keep a thread this build read from the store: its entries' records
        (``entry_record``) and their HTML (by id)."""
        try:
            parts = (marshal.dumps(records),
                     marshal.dumps({key: str(value) for key, value in html.items()}))
            self._kept[slug] = (stamp, *self._append(parts[0]), *self._append(parts[1]))
        except OSError as exc:
            log.warning("replik: could not write the thread cache in %s (%s)", self.folder, exc)

    def finish(self) -> None:
        """Make this build's threads the cache: those it read, and those the last
        build kept whose folders are unchanged (copied over as they are)."""
        try:
            for slug, place in self._matched.items():
                if slug not in self._kept:
                    assert self._old_fd is not None
                    parts = [os.pread(self._old_fd, place[n + 1], place[n]) for n in (1, 3)]
                    self._kept[slug] = (place[0], *self._append(parts[0]),
                                        *self._append(parts[1]))
            if self._new_fd is not None:
                index = marshal.dumps((code_key(), self._kept))
                self._append(index + len(index).to_bytes(_TAIL, "little"))
                os.replace(self._new, os.path.join(self.folder, NAME))
                log.info("replik: %d of %d threads came from the thread cache", self.reused,
                         len(self._kept))
        except OSError as exc:
            # A cache that cannot be written costs the next build time, nothing else.
            log.warning("replik: could not write the thread cache in %s (%s)", self.folder, exc)
        finally:
            for fd in (self._old_fd, self._new_fd):
                if fd is not None:
                    os.close(fd)
            self._old_fd = self._new_fd = None
            if os.path.exists(self._new):
                os.unlink(self._new)
