"""A build's derived copy of each thread: its entries and their HTML, reused by the
next build while the thread's files are unchanged.

The first build reads, parses and renders every comment; a second ``make html``
(after editing a post, say) need not do that again for threads nobody touched.
Files in ``REPLIK_CACHE/threads/``:

- ``index.marshal``: the format, the code key, the blob's name, and per thread
  slug its folder's signature and where its two parts lie in the blob;
- ``<token>.blob``: per thread, its entries' public fields (``store.entry_record``)
  and its HTML by entry id, each a marshal, one after another.

A build reads each folder either from the cache (unchanged) or from its files; a
folder read from its files has its texts rendered right then and kept in the new
blob (``keep_read``), and its page reads that HTML back instead of reading the
files a second time. So even the first build reads every file once, holding the
texts and HTML of one thread at a time. ``commit`` carries the unchanged threads
over from the old blob and makes the new one the cache.

A thread is reused only when its folder's signature (every file's name, inode,
size, modification and change time: ``Store.approved_by_article``) is the one
recorded and the code key matches (this format, Python's version, the code that
parses and renders, the versions of nh3, cmarkgfm and markdown-it-py). A folder with a file that
could not be read is never kept, so its warning comes again in every build.
Anything unexpected in the cache (missing, unreadable, another format) means
that thread or the whole cache is built anew, never an error. It is a cache:
delete it at any time (``make clean`` does); it holds rendered HTML, so it is
trusted like the code beside it.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import secrets
import sys
import time
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .store import Entry, entry_from_record, entry_record, write_all
from .thread import render_entries

log = logging.getLogger(__name__)

FORMAT = 1
INDEX = "index.marshal"
BLOB_SUFFIX = ".blob"
#: A temporary file older than this was left by a build that died: removed.
STALE_SECONDS = 3600

# (signature, records offset, records length, html offset, html length)
_Place = tuple[tuple[Any, ...], int, int, int, int]


@lru_cache(maxsize=1)
def code_key() -> str:
    """Changes whenever the cached values could: this format, the code that parses
    the files and renders the texts, the libraries that render."""
    # marshal's format may change with Python's version.
    digest = hashlib.sha256(f"replik thread cache {FORMAT} {sys.version}".encode())
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
    """One build's view of the cache: what the last build kept (read as asked),
    and what this build keeps (written as it goes, made the cache by ``commit``)."""

    def __init__(self, folder: str, old: dict[str, _Place] | None = None,
                 old_blob: str | None = None) -> None:
        self.folder = folder
        self._old = old or {}
        self._old_blob = old_blob
        self._read_fd: int | None = None
        #: Threads whose folder is as the last build saw it: their places in the old blob.
        self._matched: dict[str, _Place] = {}
        #: Threads written into the new blob by this build.
        self._kept: dict[str, _Place] = {}
        self._token = secrets.token_hex(8)
        self._blob_fd: int | None = None
        self._blob_size = 0
        self.reused = 0  # threads whose texts came from the cache (for tests and logs)

    # -- reading what the last build kept -------------------------------------------
    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> ThreadCache:
        folder = os.fspath(folder)
        try:
            with open(os.path.join(folder, INDEX), "rb") as handle:
                index = marshal.load(handle)
            if (not isinstance(index, dict) or index.get("format") != FORMAT
                    or index.get("key") != code_key()):
                return cls(folder)
            blob = os.path.join(folder, str(index["blob"]))
            threads = index["threads"]
            if not isinstance(threads, dict) or not os.path.isfile(blob):
                return cls(folder)
        except FileNotFoundError:
            return cls(folder)
        except (OSError, ValueError, EOFError, TypeError, KeyError) as exc:
            log.info("replik: the thread cache in %s is not usable (%s); building anew",
                     folder, exc)
            return cls(folder)
        return cls(folder, threads, blob)

    def _read(self, offset: int, length: int, fd: int | None = None) -> Any:
        """One marshal from a blob: the last build's, or ``fd``'s."""
        if fd is None:
            if self._read_fd is None:
                assert self._old_blob is not None
                self._read_fd = os.open(self._old_blob, os.O_RDONLY)
            fd = self._read_fd
        data = os.pread(fd, length, offset)
        if len(data) != length:
            raise ValueError("the cache's blob is shorter than its index says")
        return marshal.loads(data)

    def __contains__(self, slug: object) -> bool:
        """Whether the last build kept the thread of ``slug`` (worth a look at its
        folder's signature before reading it)."""
        return slug in self._old

    def entries_for(self, slug: str, signature: tuple[Any, ...]) -> list[Entry] | None:
        """The entries of a thread whose folder has ``signature``, if the last build
        kept them (``Store.approved_by_article``'s ``reuse``)."""
        place = self._old.get(slug)
        if not isinstance(place, tuple) or len(place) != 5 or place[0] != signature:
            return None
        try:
            entries = [entry_from_record(record) for record in self._read(place[1], place[2])]
        except (OSError, ValueError, EOFError, TypeError) as exc:
            log.info("replik: the thread cache has no usable entries for %s (%s)", slug, exc)
            return None
        self._matched[slug] = place
        return entries

    def html_for(self, slug: str, entries: list[Entry]) -> dict[str, str] | None:
        """The HTML by entry id of a thread, if it covers every entry of ``entries``:
        rendered by this build as it read the files (``keep_read``), or by the last
        one (reused by ``entries_for``)."""
        kept = self._kept.get(slug)
        if kept is not None:
            fd, place = self._blob_fd, kept
        elif slug in self._matched:
            fd, place = None, self._matched[slug]
        else:
            return None
        try:
            html = self._read(place[3], place[4], fd)
        except (OSError, ValueError, EOFError, TypeError) as exc:
            log.info("replik: the thread cache has no usable HTML for %s (%s)", slug, exc)
            return None
        if not isinstance(html, dict) or any(entry.id not in html for entry in entries):
            return None
        if kept is None:
            self.reused += 1
        return html

    # -- writing what this build keeps --------------------------------------------------
    def _append(self, data: bytes) -> tuple[int, int]:
        if self._blob_fd is None:
            os.makedirs(self.folder, exist_ok=True)
            # Read back too: a thread's HTML, kept as its files are read, is read again
            # when its page is written.
            self._blob_fd = os.open(self._blob_path(".tmp"),
                                    os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        write_all(self._blob_fd, data)
        offset = self._blob_size
        self._blob_size += len(data)
        return offset, len(data)

    def _blob_path(self, suffix: str = "") -> str:
        return os.path.join(self.folder, f"{self._token}{BLOB_SUFFIX}{suffix}")

    def keep_read(self, slug: str, signature: tuple[Any, ...], entries: list[Entry]) -> None:
        """Keep a thread whose files were just read (``Store.approved_by_article``'s
        ``visit``): its entries' public fields, and their texts rendered now, so its
        page reads the HTML back instead of the files. A folder with more files than
        entries (one could not be read) is not kept, so that its warning comes again
        (its page reads and renders the texts itself)."""
        if slug in self._kept or signature[0] != len(entries):
            return
        html = {key: str(value) for key, value in render_entries(entries).items()}
        records = marshal.dumps([entry_record(entry) for entry in entries])
        self._kept[slug] = (signature, *self._append(records),
                            *self._append(marshal.dumps(html)))

    def commit(self) -> None:
        """Make this build's threads the cache: those it read and those the last build
        kept whose folders are unchanged (copied over as they are)."""
        try:
            for slug, place in self._matched.items():
                if slug not in self._kept and self._read_fd is not None:
                    records = os.pread(self._read_fd, place[2], place[1])
                    html = os.pread(self._read_fd, place[4], place[3]) if place[4] else b""
                    if len(records) == place[2] and len(html) == place[4]:
                        self._kept[slug] = (place[0], *self._append(records),
                                            *self._append(html))
            if self._blob_fd is None:
                return
            os.close(self._blob_fd)
            self._blob_fd = None
            os.replace(self._blob_path(".tmp"), self._blob_path())
            index = marshal.dumps({"format": FORMAT, "key": code_key(),
                                   "blob": os.path.basename(self._blob_path()),
                                   "threads": self._kept})
            tmp = os.path.join(self.folder, f".{INDEX}.{self._token}.tmp")
            with open(tmp, "wb") as handle:
                handle.write(index)
            os.replace(tmp, os.path.join(self.folder, INDEX))
            self._remove_old_blobs()
            log.info("replik: %d of %d threads came from the thread cache", self.reused,
                     len(self._kept))
        except OSError as exc:
            # A cache that cannot be written costs the next build time, nothing else.
            log.warning("replik: could not write the thread cache in %s (%s)", self.folder, exc)
        finally:
            self.close()

    def _remove_old_blobs(self) -> None:
        mine = os.path.basename(self._blob_path())
        stale = time.time() - STALE_SECONDS
        for name in os.listdir(self.folder):
            path = os.path.join(self.folder, name)
            try:
                # A build still reading an old blob keeps its open file; the name can
                # go. A temporary file is another build's, unless it is long dead.
                if (name.endswith(BLOB_SUFFIX) and name != mine) or (
                        name.endswith(".tmp") and os.stat(path).st_mtime < stale):
                    os.unlink(path)
            except FileNotFoundError:
                pass

    def close(self) -> None:
        for name in ("_read_fd", "_blob_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        if os.path.exists(self._blob_path(".tmp")):
            os.unlink(self._blob_path(".tmp"))
