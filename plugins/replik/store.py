"""The file store: one file per entry, its folder is its state (Maildir's protocol).

The store contract's (storespec.py) first implementation, and the only code that
reads or writes the entries and ``audit.log`` under ``comments/``: a new entry is
written whole and linked into its state folder, a decision is one ``rename``
(docs/architecture.md, "The file store", says how and why)."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import suppress
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from .storespec import (  # noqa: F401 - the contract's names, imported from here too
    ENTRY_FIELDS,
    PRIVATE_FIELDS,
    STATES,
    TYPES,
    CommentStore,
    Entry,
    EntryNotFound,
    StateChanged,
    StoreError,
    is_valid_id,
    new_id,
)

log = logging.getLogger(__name__)

SUFFIX = ".txt"
_SLUG_RE = re.compile(r"^[^/\\\x00]+$")
# A file edited in place is first "held" in tmp/; its name says where it came from.
_HELD_MARK = ".held."
AUDIT_LOG = "audit.log"


class BadEntryFile(StoreError):
    """A file in the store that cannot be read as an entry."""


# Header name in the file -> attribute, in the order they are written ("Reply-To": reply_to).
_HEADERS = {attr.replace("_", "-").title(): attr for attr in (
    "id", "article", "type", "date", "author", "url", "reply_to", "staff", "title", "source",
    "spam_verdict", "spam_reason", "email", "ip", "user_agent", "referrer")}
_ATTR_TO_HEADER = {attr: name for name, attr in _HEADERS.items()}
_HEADER_LOOKUP = {name.lower(): attr for name, attr in _HEADERS.items()}


def _escape(value: str) -> str:
    # Header values are single lines; keep any newline losslessly.
    return value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


_ESCAPED = re.compile(r"\\([nr\\])")
_UNESCAPED = {"n": "\n", "r": "\r", "\\": "\\"}


def _unescape(value: str) -> str:
    return _ESCAPED.sub(lambda match: _UNESCAPED[match[1]], value)


def serialize(entry: Entry) -> bytes:
    lines = []
    for attr, header in _ATTR_TO_HEADER.items():
        value = getattr(entry, attr)
        if attr == "date":
            value = value.isoformat()
        elif attr == "staff":
            if not value:
                continue
            value = "yes"
        elif not value and attr not in ("id", "article", "type"):
            continue
        lines.append(f"{header}: {_escape(str(value))}")
    for key, value in sorted(entry.extra.items()):
        lines.append(f"{key}: {_escape(value)}")
    return ("\n".join(lines) + "\n\n" + entry.body).encode("utf-8")


#: Header values that repeat across a store's files: kept once in memory.
_SHARED_VALUES = frozenset(("article", "type", "author", "spam_verdict", "url"))
_SHARED_ZONES: dict[Any, Any] = {}
_NO_EXTRA = MappingProxyType({})


def parse(data: bytes, state: str = "pending", origin: str = "<bytes>",
          keep_private: bool = True, keep_body: bool = True) -> Entry:
    """One store file as an Entry; ``keep_private=False`` leaves the private fields
    empty (a build never shows them, so it need not hold them in memory), and
    ``keep_body=False`` the text (a build reads it again when it renders the thread:
    see ``read_body``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadEntryFile(f"{origin}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    head, sep, body = text.partition("\n\n")
    if not sep:
        raise BadEntryFile(f"{origin}: no blank line between the header and the body")
    values: dict[str, Any] = {}
    extra: dict[str, str] = {}
    # A build parses every file of the store: each step here is done once per line.
    # Headers as serialize() writes them are found as they are; others are checked.
    exact, shared, intern = _HEADERS, _SHARED_VALUES, sys.intern
    skip = () if keep_private else PRIVATE_FIELDS
    lines = head.split("\n")
    for line in lines:
        key, colon, value = line.partition(":")
        attr = exact.get(key) if colon else None
        if attr is None:
            key = key.strip()
            if not colon or not key or " " in key:
                raise BadEntryFile(f"{origin}: header line {lines.index(line) + 1} is not"
                                   f" 'Key: value': {line[:60]!r}")
            attr = _HEADER_LOOKUP.get(key.lower())
            if attr is None:
                value = value.strip()
                extra[intern(key)] = _unescape(value) if "\\" in value else value
                continue
        if attr in skip:
            continue
        value = value.strip()
        if "\\" in value:
            value = _unescape(value)
        values[attr] = intern(value) if attr in shared else value
    for required in ("id", "article", "date"):
        if not values.get(required):
            raise BadEntryFile(f"{origin}: header {_ATTR_TO_HEADER[required]!r} is missing")
    try:
        date = datetime.fromisoformat(values["date"])
    except ValueError:
        raise BadEntryFile(f"{origin}: Date {values['date']!r} is not an ISO 8601 date") from None
    if date.tzinfo is None:
        raise BadEntryFile(f"{origin}: Date {values['date']!r} has no time zone")
    if not keep_private:
        # One time-zone object per offset instead of one per entry (a build holds them all).
        date = date.replace(tzinfo=_SHARED_ZONES.setdefault(date.utcoffset(), date.tzinfo))
        if not extra:
            extra = _NO_EXTRA  # type: ignore[assignment]  # read-only: a build never edits
    values["date"] = date
    if "staff" in values:
        values["staff"] = values["staff"].lower() in ("yes", "true", "1")
    entry_type = values.get("type")
    if not entry_type:
        values["type"] = "comment"
    elif entry_type not in TYPES:
        raise BadEntryFile(f"{origin}: unknown Type {entry_type!r} (expected one of {TYPES})")
    return Entry(body=body if keep_body else "", extra=extra, state=state, **values)


#: The public fields of a build's entry, in the order of its record (see entry_record).
_RECORD_FIELDS = ("id", "article", "type", "author", "url", "reply_to", "staff", "title",
                  "source", "spam_verdict", "spam_reason")


_record_fields = attrgetter(*_RECORD_FIELDS)


def entry_record(entry: Entry) -> tuple[Any, ...]:
    """A build's entry (public fields, no text) as plain values, for a cache
    (marshal-able); ``entry_from_record`` makes the same Entry again."""
    return (*_record_fields(entry), entry.date.isoformat(), tuple(entry.extra.items()))


def entry_from_record(record: tuple[Any, ...], state: str = "approved") -> Entry:
    """The Entry ``parse(..., keep_private=False, keep_body=False)`` made of the file
    that ``record`` was taken from. Raises ValueError or TypeError on a bad record."""
    *fields, date_text, extra = record
    if len(fields) != len(_RECORD_FIELDS):
        raise ValueError("not an entry record")
    values = dict(zip(_RECORD_FIELDS, fields, strict=True))
    for name in _SHARED_VALUES:
        values[name] = sys.intern(values[name])
    date = datetime.fromisoformat(date_text)
    if date.tzinfo is None:
        raise ValueError("a record's date has no time zone")
    date = date.replace(tzinfo=_SHARED_ZONES.setdefault(date.utcoffset(), date.tzinfo))
    return Entry(body="", date=date, extra={sys.intern(k): v for k, v in extra} if extra
                 else _NO_EXTRA, state=state, **values)  # type: ignore[arg-type]


def read_bytes(path: str) -> bytes:
    """A file's bytes with plain system calls: half the CPU of ``open().read()``,
    which counts when a build reads 20,000 entries (twice)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        # Most entries fit in the first read; a small buffer costs less to allocate.
        data = os.read(fd, 8192)
        if len(data) < 8192:
            return data
        chunks = [data]
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_body(path: str) -> str:
    """The text of the entry in ``path`` (its header skipped unparsed), for a build that
    read the store without texts. Raises OSError or UnicodeDecodeError."""
    return read_bytes(path).partition(b"\n\n")[2].decode("utf-8")


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a new or renamed name) to disk."""
    with suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: Numbers the temporary files of this process (pid + number: unique in tmp/).
_tmp_numbers = itertools.count()


def write_temp(tmp_dir: str | os.PathLike[str], name: str, data: bytes, *,
               sync: bool = True, mode: int = 0o640) -> Path:
    """Write ``data`` to a new file in ``tmp_dir`` (made if missing) and fsync it;
    returns its path. The first half of Maildir's protocol: the caller renames (or
    links) the file into place, so a reader never sees it half-written. ``sync=False``
    leaves the fsync to the caller (``Store.add_many`` flushes many files at once)."""
    # No random part: the pid and a counter are unique among live processes, and
    # O_EXCL refuses a name left behind by a crashed one (a fresh number is tried).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    tmp_dir = os.fspath(tmp_dir)
    for _attempt in range(3):
        tmp = f"{tmp_dir}/{name}.{os.getpid()}.{next(_tmp_numbers)}"
        try:
            fd = os.open(tmp, flags, mode)
            break
        except FileNotFoundError:  # the first write into a new store
            os.makedirs(tmp_dir, exist_ok=True)
        except FileExistsError:
            continue
    else:
        tmp = f"{tmp_dir}/{name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, flags, mode)
    try:
        write_all(fd, data)
        if sync:
            os.fsync(fd)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)
    return Path(tmp)


def _link(source: str, folder: str, target: str) -> None:
    """Link ``source`` in as ``target`` in ``folder``, made on first use. link() never
    replaces a file (FileExistsError), so two writers of one id cannot both win."""
    try:
        os.link(source, target)
    except FileNotFoundError:  # a new state folder (an article's first approval)
        os.makedirs(folder, exist_ok=True)
        os.link(source, target)


def _open_locked(path: Path, how: int) -> int | None:
    """``path`` opened and flock'ed (``how``; LOCK_NB raises BlockingIOError), or None
    if the file left that name meanwhile (moved, deleted) before or while waiting."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, how)
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            return fd
    except FileNotFoundError:
        pass
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


class Located(NamedTuple):
    """An entry and the file it was read from."""

    entry: Entry
    path: Path


class Store(CommentStore):
    """The comment store rooted at ``root`` (usually ``comments/``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._root = self.location = os.fspath(self.root)

    # -- layout -----------------------------------------------------------
    def ensure(self) -> None:
        for name in ("tmp", *STATES):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def _state_folder(self, state: str, article: str = "") -> str:
        if state not in STATES:
            raise StoreError(f"unknown state {state!r} (expected one of {', '.join(STATES)})")
        if state == "approved":
            if not article or not _SLUG_RE.match(article) or article in (".", ".."):
                raise StoreError(f"cannot file an approved entry under article {article!r}")
            return f"{self._root}/approved/{article}"
        return f"{self._root}/{state}"

    def _path(self, entry_id: str, state: str, article: str = "") -> Path:
        return Path(self._state_folder(state, article), f"{entry_id}{SUFFIX}")

    # -- writing ----------------------------------------------------------
    def add(self, entry: Entry, state: str = "pending", *, fresh: bool = False,
            record: Callable[[], Any] | None = None) -> Entry:
        """``fresh``: only ``state``'s folder is checked for the id (link() refuses it)."""
        if not is_valid_id(entry.id):
            raise StoreError(f"invalid entry id {entry.id!r}")
        if not fresh and self.find(entry.id) is not None:
            raise StoreError(f"an entry with id {entry.id} exists already")
        # Plain strings on this path: the intake stores every comment through it.
        folder = self._state_folder(state, entry.article)
        target = f"{folder}/{entry.id}{SUFFIX}"
        data = serialize(entry)
        # Maildir's way: written and flushed in tmp/, then linked into its state.
        tmp = os.fspath(write_temp(f"{self._root}/tmp", entry.id, data))
        try:
            _link(tmp, folder, target)
        except FileExistsError:
            raise StoreError(f"an entry with id {entry.id} exists already") from None
        finally:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
        fsync_dir(folder)
        if record is not None:
            try:
                record()
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(target)
                fsync_dir(folder)
                raise
        entry.state = state
        return entry

    def add_many(self, items: Iterable[tuple[Entry, str]]) -> list[Entry]:
        """Two ``sync()`` per batch instead of two fsyncs per entry (and per folder: a
        journal commit each): every entry is written to a temporary file unsynced,
        one ``sync()`` puts them on disk, they are linked into their folders (never
        over a file), a second ``sync()`` puts the folders on disk. Only the target
        folder is checked for a taken id."""
        tmp_dir = f"{self._root}/tmp"
        staged: list[tuple[Entry, str, str, str]] = []
        taken: list[Entry] = []
        try:
            for entry, state in items:
                if not is_valid_id(entry.id):
                    raise StoreError(f"invalid entry id {entry.id!r}")
                folder = self._state_folder(state, entry.article)
                tmp = os.fspath(write_temp(tmp_dir, entry.id, serialize(entry), sync=False))
                staged.append((entry, state, folder, tmp))
            if not staged:
                return taken
            # One flush for all of them: each file's content is on disk before any
            # name points to it.
            os.sync()
            for entry, state, folder, tmp in staged:
                try:
                    _link(tmp, folder, f"{folder}/{entry.id}{SUFFIX}")
                except FileExistsError:
                    taken.append(entry)
                    continue
                entry.state = state
            os.sync()  # the new names, on disk
        finally:
            for _entry, _state, _folder, tmp in staged:
                with suppress(OSError):
                    os.unlink(tmp)
        return taken

    # -- reading ----------------------------------------------------------
    # Plain strings rather than Path objects here: a build reads every file of the store.
    def _folders(self, state: str, article: str = "") -> list[tuple[str, str]]:
        """``(article or "", folder)`` for each folder of ``state`` (or of one article)."""
        if state != "approved" or article:
            return [(article, self._state_folder(state, article))]
        base = f"{self._root}/approved"
        try:
            return [(slug, f"{base}/{slug}") for slug in os.listdir(base)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    @staticmethod
    def _names(folder: str) -> list[str]:
        """The entry files' names in ``folder``, sorted (oldest first)."""
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in names if n.endswith(SUFFIX) and not n.startswith("."))

    def _listing(self) -> Iterator[tuple[str, str, os.DirEntry[str]]]:
        """``(state, article or "", file)`` for every entry file, from the folders'
        listings alone (no file is read or stat'ed: a name is its entry's id, and a
        change always makes a new file, so its inode stamps the version)."""
        for state in STATES:
            for article, folder in self._folders(state):
                try:
                    with os.scandir(folder) as listing:
                        for item in listing:
                            if item.name.endswith(SUFFIX) and not item.name.startswith("."):
                                yield state, article, item
                except (FileNotFoundError, NotADirectoryError):
                    continue

    def ids(self) -> set[str]:
        return {item.name[: -len(SUFFIX)] for _state, _article, item in self._listing()}

    def entry_stamps(self) -> dict[str, tuple[str, Hashable]]:
        return {item.name[: -len(SUFFIX)]: (state, item.inode())
                for state, _article, item in self._listing()}

    def approved_stamps(self) -> dict[str, Hashable]:
        found: dict[str, list[tuple[str, int]]] = {}
        for state, article, item in self._listing():
            if state == "approved":
                found.setdefault(article, []).append((item.name, item.inode()))
        # A digest, not the list: approve-to-live holds one per article.
        return {article: hashlib.blake2b(repr(sorted(files)).encode(), digest_size=16).digest()
                for article, files in found.items()}

    def body(self, entry: Entry) -> str:
        """Raises EntryNotFound, or BadEntryFile for a file that is not UTF-8."""
        try:
            return read_body(os.fspath(self._path(entry.id, "approved", entry.article)))
        except FileNotFoundError:
            raise EntryNotFound(entry.id) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BadEntryFile(f"entry {entry.id} cannot be read: {exc}") from None

    @staticmethod
    def _load(path: str, state: str, **options: bool) -> Entry:
        """The entry in ``path`` (``options``: parse's). FileNotFoundError if it moved
        or went meanwhile (not a broken file: callers look again), else BadEntryFile."""
        try:
            data = read_bytes(path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise BadEntryFile(f"{path}: cannot be read ({exc.strerror})") from None
        entry = parse(data, state, path, **options)
        if not path.endswith(f"/{entry.id}{SUFFIX}"):
            raise BadEntryFile(f"{path}: file name does not match its Id {entry.id!r}")
        return entry

    def _load_all(self, state: str, paths: Iterable[str], on_error: str = "warn",
                  **options: bool) -> Iterator[Entry]:
        """The entries in ``paths``; one that cannot be read is reported with a warning
        naming it and skipped (``on_error="raise"``: BadEntryFile)."""
        for path in paths:
            try:
                yield self._load(path, state, **options)
            except FileNotFoundError:
                continue  # moved away while we listed; it shows up in its new state
            except BadEntryFile as exc:
                if on_error == "raise":
                    raise
                log.warning("replik: skipping unreadable comment file: %s", exc)

    def find(self, entry_id: str) -> Entry | None:
        found = self._locate(entry_id)
        return found.entry if found else None

    def _locate(self, entry_id: str) -> Located | None:
        """Where the entry is now, or None. An entry is always in exactly one folder (a
        move is one rename), but a scan racing a move can look in each folder at the
        wrong moment or lose the file between seeing and reading it: look again."""
        if not is_valid_id(entry_id):
            return None
        name = f"{entry_id}{SUFFIX}"
        for _attempt in range(3):
            try:
                for state in ("pending", "spam", "trash", "approved"):  # one stat per folder
                    for _article, folder in self._folders(state):
                        if os.path.exists(path := f"{folder}/{name}"):
                            return Located(self._load(path, state), Path(path))
            except FileNotFoundError:
                pass  # moved between seeing it and reading it
        return None

    def entries(self, state: str, article: str = "", *,
                on_error: str = "warn") -> Iterator[Entry]:
        found = sorted((name, folder) for _article, folder in self._folders(state, article)
                       for name in self._names(folder))
        for entry in self._load_all(state, (f"{folder}/{name}" for name, folder in found),
                                    on_error):
            if not article or entry.article == article:
                yield entry

    def approved_by_article(self, *, public_only: bool = False,
                            bodies: bool = True) -> dict[str, list[Entry]]:
        grouped: dict[str, list[Entry]] = {}
        for slug, folder in sorted(self._folders("approved")):
            paths = [f"{folder}/{name}" for name in self._names(folder)]
            if items := list(self._load_all("approved", paths, keep_private=not public_only,
                                            keep_body=bodies)):
                grouped[slug] = items
        return grouped

    def bodies(self, article: str) -> dict[str, str]:
        folder = self._state_folder("approved", article)
        texts: dict[str, str] = {}
        for name in self._names(folder):
            with suppress(OSError, UnicodeDecodeError):
                texts[name[: -len(SUFFIX)]] = read_body(f"{folder}/{name}")
        return texts

    # -- changing ---------------------------------------------------------
    # Each change may take ``record``: called once the change is made, and if it
    # raises, the change is undone before the exception goes on. The moderation
    # decisions write their audit record there, so a decision and its record are
    # kept or lost together (a full disk loses both, never just the record).
    def move(self, entry_id: str, state: str, *, expected: str | None = None,
             record: Callable[[], Any] | None = None) -> Entry:
        """One rename, with ``expected`` from that state's file only. The file is locked
        (flock) from before the rename until its record is written, so whoever comes
        second can wait for that record (``settled``) and say who decided first."""
        for _attempt in range(1 if expected else 5):
            found = self._locate(entry_id)
            if found is None:
                if expected:
                    raise StateChanged(entry_id, expected, "")
                raise EntryNotFound(entry_id)
            if expected and found.entry.state != expected:
                raise StateChanged(entry_id, expected, found.entry.state)
            if found.entry.state == state:
                return found.entry
            fd = _open_locked(found.path, fcntl.LOCK_EX)
            if fd is None:
                continue  # someone else moved it first; look again (or give up)
            try:
                target = self._path(entry_id, state, found.entry.article)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.rename(found.path, target)
                except FileNotFoundError:
                    continue
                fsync_dir(target.parent)
                if record is not None:
                    try:
                        record()
                    except BaseException:
                        try:
                            os.rename(target, found.path)
                            fsync_dir(found.path.parent)
                        except OSError as exc:  # moved on again meanwhile: the log must say so
                            log.error("replik: could not move %s back to %s after a failed"
                                      " record: %s", target, found.path, exc)
                        raise
            finally:
                os.close(fd)
            found.entry.state = state
            return found.entry
        if expected:
            now = self.settled(entry_id)
            raise StateChanged(entry_id, expected, now.state if now else "")
        raise StoreError(f"entry {entry_id} keeps moving; try again")

    def settled(self, entry_id: str) -> Entry | None:
        """The entry once the change in progress on it (if any) is done and recorded
        (waits for the flock ``move`` holds meanwhile)."""
        for _attempt in range(5):
            found = self._locate(entry_id)
            if found is None:
                return None
            fd = _open_locked(found.path, fcntl.LOCK_SH)
            if fd is not None:
                os.close(fd)
                return found.entry
        return self.find(entry_id)

    def _hold(self, found: Located) -> tuple[int, Path]:
        """Take an entry's file out of its folder into tmp/ as a held copy, locked.

        The lock (flock on the file) says the change is in progress: ``sweep()``
        puts back only held copies nobody holds, i.e. those of a process that died
        (the system drops its locks then). Returns the open, locked file and the
        held copy's path; close the file when done.
        """
        entry = found.entry
        origin = entry.state if entry.state != "approved" else f"approved~{entry.article}"
        held = self.root / "tmp" / f"{entry.id}{SUFFIX}{_HELD_MARK}{origin}"
        try:
            fd = _open_locked(found.path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"entry {entry.id} is being changed by someone else;"
                             " try again") from None
        if fd is None:
            raise StoreError(f"entry {entry.id} changed meanwhile; try again")
        try:
            held.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(found.path, held)
            except FileNotFoundError:
                raise StoreError(f"entry {entry.id} changed meanwhile; try again") from None
        except BaseException:
            os.close(fd)
            raise
        return fd, held

    def update(self, entry: Entry, *, record: Callable[[], Any] | None = None) -> Entry:
        """The old file is held in tmp/ (``_hold``: one writer wins), the new one renamed
        into place, then the held copy removed; after a crash ``sweep()`` puts it back."""
        found = self._locate(entry.id)
        if found is None:
            raise EntryNotFound(entry.id)
        state = found.entry.state
        fd, held = self._hold(found)
        try:
            target = self._path(entry.id, state, entry.article)
            tmp: Path | None = None
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = write_temp(self.root / "tmp", entry.id, serialize(entry))
                os.rename(tmp, target)
                tmp = None
                fsync_dir(target.parent)
                if record is not None:
                    record()
            except BaseException:
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
                if target != found.path:
                    target.unlink(missing_ok=True)
                os.rename(held, found.path)  # the old version, back in place
                raise
            held.unlink(missing_ok=True)
        finally:
            os.close(fd)
        entry.state = state
        return entry

    def delete(self, entry_id: str, *, expected: str | None = None,
               record: Callable[[], Any] | None = None) -> Entry:
        """Remove an entry for good (compare-and-set with ``expected``, as ``move``)."""
        found = self._locate(entry_id)
        if found is None:
            if expected:
                raise StateChanged(entry_id, expected, "")
            raise EntryNotFound(entry_id)
        if expected and found.entry.state != expected:
            raise StateChanged(entry_id, expected, found.entry.state)
        fd, held = self._hold(found)
        try:
            fsync_dir(found.path.parent)
            if record is not None:
                try:
                    record()
                except BaseException:
                    os.rename(held, found.path)
                    raise
            held.unlink()
        finally:
            os.close(fd)
        return found.entry

    def sweep(self, max_age_seconds: float = 36 * 3600) -> list[Path]:
        """Put back the held copies nobody holds a lock on (``_hold``: a dead process's,
        however young), and remove older half-written files from tmp/."""
        tmp_dir = self.root / "tmp"
        if not tmp_dir.is_dir():
            return []
        now = time.time()
        swept: list[Path] = []
        for path in tmp_dir.iterdir():
            if _HELD_MARK in path.name:
                if self._put_back(path):
                    swept.append(path)
                continue
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if age > max_age_seconds:
                path.unlink(missing_ok=True)
                swept.append(path)
        return swept

    def _put_back(self, path: Path) -> bool:
        """Put a held copy back into its state folder, unless a live change holds it."""
        name, _, origin = path.name.partition(_HELD_MARK)
        state, _, article = origin.partition("~")
        try:
            target = Path(self._state_folder(state, article), name)
        except StoreError as exc:
            log.error("replik: %s cannot be put back: %s", path, exc)
            return False
        try:
            fd = _open_locked(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a change in progress
        if fd is None:
            return False  # the change just finished, or another's copy took the name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)  # never over a newer version written before the end
            except FileExistsError:
                pass
            else:
                fsync_dir(target.parent)
                log.warning("replik: put back %s, left by an interrupted change", target)
            path.unlink(missing_ok=True)
            return True
        finally:
            os.close(fd)

    # -- the audit log: one JSON object a line in audit.log -----------------
    def append_audit(self, records: list[dict[str, Any]]) -> None:
        """Each call is one ``write()`` on a file opened with O_APPEND (lines from
        many processes never interleave), fsync'd before it counts."""
        if not records:
            return
        data = "".join(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n"
                       for item in records).encode("utf-8")
        self.root.mkdir(parents=True, exist_ok=True)
        path = f"{self._root}/{AUDIT_LOG}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            if os.write(fd, data) != len(data):
                # Part of the lines are in the file (a full disk): end it, so the next
                # record starts on a line of its own (audit_trail skips the broken one).
                with suppress(OSError):
                    os.write(fd, b"\n")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
            os.fsync(fd)
        finally:
            os.close(fd)

    def audit_trail(self, entry_id: str | None = None) -> Iterator[dict[str, Any]]:
        try:
            handle = open(f"{self._root}/{AUDIT_LOG}", encoding="utf-8")
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a blank line, or what a full disk cut short
                if entry_id is None or item.get("entry") == entry_id:
                    yield item
