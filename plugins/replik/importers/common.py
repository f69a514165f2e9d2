"""What every importer shares: errors with line numbers, reproducible ids, the
summary, and the staging area that makes an import all-or-nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO

from lxml import etree

from ..files import write_atomic
from ..store import STATES, Entry, Store, new_id, parse, serialize

#: How many problems an error message lists before it says "and N more".
MAX_LISTED = 20
#: Entries written into the store at a time (flushed to disk together).
BATCH = 2000

#: Told how an import goes: ``progress(phase, done, total, comments)``. Phase "read":
#: ``done`` of ``total`` bytes of the input read, ``comments`` found in them so far;
#: phase "write": ``done`` of ``total`` staged entries moved into the store.
Progress = Callable[[str, int, int, int], None]


class CountingReader:
    """A file wrapper that reports how far the parser has read (for the progress bar)."""

    def __init__(self, handle: IO[bytes], size: int, report: Callable[[int, int], None]
                 ) -> None:
        self.handle = handle
        self.size = size
        self.done = 0
        self.report = report

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        if data:
            self.done += len(data)
            self.report(self.done, self.size)
        return data


@dataclass
class Problem:
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class ImportFailed(Exception):
    """The input cannot be imported; nothing was written. ``problems`` say why."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        shown = [f"  {source}, {p}" for p in problems[:MAX_LISTED]]
        if len(problems) > MAX_LISTED:
            shown.append(f"  … and {len(problems) - MAX_LISTED} more")
        super().__init__(
            f"{source} cannot be imported ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}); nothing was imported:\n" + "\n".join(shown)
        )


def stable_id(when: datetime, *parts: str) -> str:
    """An id whose last eight hex digits derive from the source and the original id:
    the same on every import."""
    return new_id(when=when, token=hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8])


def format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# Entities declared in the file (external files, "billion laughs") are never expanded.
DTD_REFUSED = ("the file declares a DTD (<!DOCTYPE …>); exports never do, and its"
               " entities are not read, for safety")


def read_xml(path: Path, problems: list[Problem], progress: Progress | None,
             found: Callable[[], int]) -> Iterator[Any]:
    """Every element of the export at ``path`` as it ends, read as a stream (lxml
    ``iterparse``; see ``free``) in bounded memory. What is wrong with the file goes
    into ``problems``; ``found()`` says how many comments were found so far."""
    def read(done: int, total: int) -> None:
        if progress is not None:
            progress("read", done, total, found())

    try:
        with open(path, "rb") as handle:
            reader = CountingReader(handle, os.fstat(handle.fileno()).st_size, read)
            for number, (_event, element) in enumerate(etree.iterparse(
                    reader, resolve_entities=False, no_network=True, load_dtd=False,
                    huge_tree=True, remove_comments=True, remove_pis=True)):
                if number == 0 and element.getroottree().docinfo.internalDTD is not None:
                    problems.append(Problem(None, DTD_REFUSED))
                    return
                yield element
            read(reader.done, reader.size)  # the last elements came after the last read
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if exc.position else None)
        problems.append(Problem(line, f"not well-formed XML: {exc.msg}"))
    except OSError as exc:
        problems.append(Problem(None, f"cannot be read: {exc.strerror or exc}"))


def free(element: Any) -> None:
    """Drop a handled child of the document's top element, and what came before it."""
    element.clear()
    parent = element.getparent()
    while element.getprevious() is not None:
        del parent[0]


@dataclass
class Summary:
    """What an import did (or, with a dry run, would do)."""

    source: str
    posts: Counter[str] = field(default_factory=Counter)  # by status
    pages: Counter[str] = field(default_factory=Counter)
    entries: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, state)
    new_entries: int = 0
    existing_entries: int = 0
    files_written: list[str] = field(default_factory=list)
    files_unchanged: int = 0
    files_kept: list[str] = field(default_factory=list)  # differ from the import; kept
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count
    notes: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    def lines(self) -> list[str]:
        out = [f"Imported from {self.source}:"]
        if self.posts or self.pages:
            for name, counts in (("posts", self.posts), ("pages", self.pages)):
                shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
                out.append(f"  {name}: {sum(counts.values())} ({shown})")
            out.append(
                f"  content files: {len(self.files_written)} written, {self.files_unchanged}"
                f" unchanged, {len(self.files_kept)} kept because they differ"
            )
            for path in self.files_kept[:MAX_LISTED]:
                out.append(f"    kept (use --overwrite to replace): {path}")
        total = sum(self.entries.values())
        out.append(
            f"  comments: {total} read, {self.new_entries} new, "
            f"{self.existing_entries} already in the store"
        )
        by_type: Counter[str] = Counter()
        for (entry_type, _state), n in self.entries.items():
            by_type[entry_type] += n
        for entry_type, n in sorted(by_type.items()):
            states = ", ".join(
                f"{m} {state}" for (t, state), m in sorted(self.entries.items()) if t == entry_type
            )
            out.append(f"    {entry_type}: {n} ({states})")
        if self.attachments:
            out.append(f"  attachments to fetch: {len(self.attachments)}")
        if self.skipped:
            out.append(f"  skipped: {sum(self.skipped.values())}")
            for reason, n in sorted(self.skipped.items()):
                out.append(f"    {n} × {reason}")
        for note in self.notes:
            out.append(f"  note: {note}")
        return out


#: A staging folder untouched this long was left by an import that was killed.
STALE_SECONDS = 36 * 3600


def _remove_stale(parent: Path) -> None:
    """Remove what killed imports left in ``parent``: it holds e-mail and IP addresses."""
    now = time.time()
    for old in parent.glob("replik-import-*"):
        with suppress(FileNotFoundError):  # removed by another import meanwhile
            if now - old.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(old, ignore_errors=True)


class Staging(AbstractContextManager["Staging"]):
    """A private scratch area: the entries and a content tree, filled while the input
    is read and validated, moved into the real store and content folder only when
    the whole input proved good. Removed afterwards in every case."""

    def __init__(self, parent: Path | None = None) -> None:
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
            _remove_stale(parent)
        # mkdtemp makes the folder 0700: it holds e-mail and IP addresses.
        self.root = Path(tempfile.mkdtemp(prefix="replik-import-", dir=parent))
        self.entries = self.root / "entries"
        self.content = self.root / "content"
        self.count = 0
        self._spool: BinaryIO | None = None

    def add(self, entry: Entry, state: str) -> None:
        # One file for all entries, each in the store's own format after a line
        # "<state> <length>": a file per entry cost a create and a delete each. No
        # fsync: if we crash, the staging area is thrown away; durability comes when
        # the real store takes them.
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        if self._spool is None:
            self._spool = open(self.entries, "xb")  # noqa: SIM115 - closed in __exit__
        data = serialize(entry)
        self._spool.write(b"%s %d\n%s" % (state.encode(), len(data), data))
        self.count += 1

    def staged_entries(self) -> Iterator[Entry]:
        """The entries in the order they were staged, each with its state."""
        if self._spool is None:
            return
        self._spool.flush()
        with open(self.entries, "rb") as spool:
            while header := spool.readline():
                state, _, size = header.decode("ascii").partition(" ")
                yield parse(spool.read(int(size)), state, f"{self.entries} (staged)")

    def write_content(self, relative: str, text: str) -> None:
        path = self.content / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def staged_content(self) -> Iterator[tuple[str, Path]]:
        if not self.content.is_dir():
            return
        for path in sorted(self.content.rglob("*")):
            if path.is_file():
                yield path.relative_to(self.content).as_posix(), path

    def __exit__(self, *exc: object) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        shutil.rmtree(self.root, ignore_errors=True)


def commit(staging: Staging, store: Store, summary: Summary, content_dir: Path | None,
           overwrite: bool = False, dry_run: bool = False,
           progress: Progress | None = None) -> None:
    """Move what was staged into the real store (and content folder).

    Entries already in the store (same id: the same original comment) are left
    as they are, whatever state a moderator has put them in since. A dry run
    only counts. The entries go in ``BATCH`` at a time (``Store.add_many``: each
    batch flushed to disk as a whole); an import stopped in the middle is finished
    by running it again.
    """
    known = store.ids()  # once: looking each entry up in the store costs a scan
    if not dry_run:
        store.ensure()
    batch: list[tuple[Entry, str]] = []
    done = 0

    def write() -> None:
        taken = store.add_many(batch)  # taken: written by someone else meanwhile
        summary.new_entries -= len(taken)
        summary.existing_entries += len(taken)
        batch.clear()
        if progress is not None:
            progress("write", done, staging.count, done)

    for entry in staging.staged_entries():
        done += 1
        if entry.id in known:
            summary.existing_entries += 1
            continue
        summary.new_entries += 1  # (staged ids are unique: each importer checks)
        if not dry_run:
            batch.append((entry, entry.state))
            if len(batch) >= BATCH:
                write()
    if batch:
        write()
    if content_dir is None:
        return
    for relative, staged in staging.staged_content():
        target = content_dir / relative
        if target.exists():
            if target.read_bytes() == staged.read_bytes():
                summary.files_unchanged += 1
                continue
            if not overwrite:
                summary.files_kept.append(str(target))
                continue
        summary.files_written.append(str(target))
        if dry_run:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            staged.replace(target)  # same file system: one atomic rename
        except OSError:
            write_atomic(target, staged.read_bytes(), durable=False)
