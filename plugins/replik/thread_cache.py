"""A build's derived copy of each thread: its entries and their HTML, reused by the
next build while the thread's files are unchanged.

The first build reads, parses and renders every comment; a second ``make html``
(after editing a post, say) need not do that again for threads nobody touched.
One file per thread, ``REPLIK_CACHE/threads/<slug>.marshal``: the length of its
first part (8 bytes), then a marshal of the code key, the folder's signature and the
entries' public fields (``store.entry_record``), then a marshal of their HTML by
entry id.

A build reads each folder either from the cache (unchanged) or from its files. A
folder read from its files has its texts rendered right then and its cache file
written (``keep_read``); its page reads that HTML back instead of reading the files
a second time. So even the first build reads every file once, holding the texts
and HTML of one thread at a time.

A thread is reused only when its folder's signature (every file's name, inode,
size, modification and change time: ``Store.approved_by_article``) is the one
recorded and the code key matches (Python's version, the code that parses and
renders, the versions of nh3, cmarkgfm and markdown-it-py). A folder with a file
that could not be read is never kept, so its warning comes again in every build.
Anything unexpected in a file means that thread is built anew, never an error. It
is a cache: delete it at any time (``make clean`` does); it holds rendered HTML, so
it is trusted like the code beside it.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .feeds import atomic_write
from .store import Entry, entry_from_record, entry_record, read_bytes
from .thread import render_entries

log = logging.getLogger(__name__)

SUFFIX = ".marshal"
#: The first part's length, at the start of a file.
_HEAD = 8
#: What a damaged, foreign or vanished file raises on reading.
_UNUSABLE = (OSError, ValueError, EOFError, TypeError, IndexError)


@lru_cache(maxsize=1)
def code_key() -> str:
    """Changes whenever the cached values could: the code that parses the files and
    renders the texts, the libraries that render, Python (marshal's format)."""
    digest = hashlib.sha256(f"replik thread cache 2 {sys.version}".encode())
    here = Path(__file__).parent
    for name in ("store.py", "render.py", "thread_cache.py"):
        digest.update((here / name).read_bytes())
    for dist in ("nh3", "cmarkgfm", "markdown-it-py"):
        try:
            digest.update(f"{dist} {version(dist)}".encode())
        except PackageNotFoundError:
            digest.update(f"{dist} ?".encode())
    return digest.hexdigest()


class ThreadCache:
    """One build's view of the thread files in ``folder``."""

    def __init__(self, folder: str | os.PathLike[str], known: frozenset[str] = frozenset()
                 ) -> None:
        self.folder = os.fspath(folder)
        self._known = known  # slugs with a file when the build started
        self._current: set[str] = set()  # slugs whose file matches this build's reading
        self.reused = 0  # threads taken from the cache (for tests and logs)
        self.kept = 0  # threads whose file this build wrote

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> ThreadCache:
        try:
            names = os.listdir(folder)
        except OSError:  # no cache yet
            names = []
        return cls(folder, frozenset(n[: -len(SUFFIX)] for n in names if n.endswith(SUFFIX)))

    def _path(self, slug: str) -> str:
        return os.path.join(self.folder, f"{slug}{SUFFIX}")

    def _part(self, slug: str, second: bool) -> Any:
        data = memoryview(read_bytes(self._path(slug)))
        end = _HEAD + int.from_bytes(data[:_HEAD], "little")
        if len(data) < end:
            raise ValueError("cut short")
        return marshal.loads(data[end:] if second else data[_HEAD:end])

    def __contains__(self, slug: object) -> bool:
        """Whether a file of ``slug`` is there (worth a look at its folder's signature)."""
        return slug in self._known

    def entries_for(self, slug: str, signature: tuple[Any, ...]) -> list[Entry] | None:
        """The entries of a thread whose folder has ``signature``, if the cache holds
        them (``Store.approved_by_article``'s ``reuse``)."""
        try:
            key, recorded, records = self._part(slug, second=False)
            if key != code_key() or recorded != signature:
                return None
            entries = [entry_from_record(record) for record in records]
        except _UNUSABLE as exc:
            log.info("replik: the thread cache has no usable entries for %s (%s)", slug, exc)
            return None
        self._current.add(slug)
        self.reused += 1
        return entries

    def html_for(self, slug: str, entries: list[Entry]) -> dict[str, str] | None:
        """The HTML by entry id of a thread, if its file matches this build's reading
        and covers every entry of ``entries``."""
        if slug not in self._current:
            return None
        try:
            html = self._part(slug, second=True)
        except _UNUSABLE as exc:
            log.info("replik: the thread cache has no usable HTML for %s (%s)", slug, exc)
            return None
        if not isinstance(html, dict) or any(entry.id not in html for entry in entries):
            return None
        return html

    def keep_read(self, slug: str, signature: tuple[Any, ...], entries: list[Entry]) -> None:
        """Keep a thread whose files were just read (``Store.approved_by_article``'s
        ``visit``): its entries' public fields, and their texts rendered now, so its
        page reads the HTML back instead of the files. A folder with more files than
        entries (one could not be read) is not kept, so that its warning comes again
        (its page reads and renders the texts itself)."""
        if signature[0] != len(entries):
            return
        html = {key: str(value) for key, value in render_entries(entries).items()}
        head = marshal.dumps((code_key(), signature, [entry_record(e) for e in entries]))
        try:
            atomic_write(self._path(slug),
                         len(head).to_bytes(_HEAD, "little") + head + marshal.dumps(html))
        except OSError as exc:
            # A cache that cannot be written costs the next build time, nothing else.
            log.warning("replik: could not write the thread cache in %s (%s)", self.folder, exc)
            return
        self._current.add(slug)
        self.kept += 1
