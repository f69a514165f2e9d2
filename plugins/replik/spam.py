"""Spam defence: local rules (as WordPress's discussion settings) and Akismet.

``screen(settings, entry, ...)`` decides where a new entry goes and why. The
local rules run first; Akismet (through the ``akismet`` package) is asked only
when the local rules did not already call the entry spam. When Akismet is not
configured, unreachable, slow or rejects the key, the entry stays pending and is
marked ``unchecked``; ``replik recheck`` asks again later.

Flood control and duplicate detection must hold across several server
processes, so they live in the cache folder as plain files (derived data:
deleting it only forgets the last minute's counters and the duplicate index,
which is rebuilt from the store); with ``REPLIK_DATABASE_URL``, in the database
(``pg.Guard``), so that several app nodes count as one.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import logging
import os
import secrets
import shutil
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import akismet
import httpx

from .render import count_links
from .settings import Settings, cache_path, secret
from .storespec import CommentStore, Entry, open_store

if TYPE_CHECKING:
    from . import pg

log = logging.getLogger(__name__)

KEY_ENV = "PYTHON_AKISMET_API_KEY"
URL_ENV = "PYTHON_AKISMET_BLOG_URL"


@dataclass
class Verdict:
    """Where a new entry goes: ``state`` (pending/approved/spam) and why."""

    state: str
    verdict: str  # ham | spam | discard | unchecked
    reason: str
    notify: bool = True


# -- Akismet ---------------------------------------------------------------------
def akismet_client(settings: Settings) -> tuple[akismet.SyncClient | None, str]:
    """An Akismet client for these settings, or None and the reason it is off."""
    cls = settings.akismet_client or akismet.SyncClient
    try:
        if isinstance(cls, str):
            module, _, name = cls.rpartition(".")
            cls = getattr(importlib.import_module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, akismet.SyncClient)):
            raise TypeError(f"REPLIK_AKISMET_CLIENT must name an akismet.SyncClient class:"
                            f" {cls!r}")
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        return None, f"off: REPLIK_AKISMET_CLIENT is not usable ({exc})"
    key, url = secret(KEY_ENV), secret(URL_ENV)
    if not key or not url:
        if issubclass(cls, akismet.TestSyncClient):
            # The package's test client never reaches the network; any config will do.
            key = key or "test-key"
            url = url or settings.siteurl or "http://example.com/"
        else:
            return None, f"off: {KEY_ENV} and {URL_ENV} are not both set"
    if not url.startswith(("http://", "https://")):
        return None, f"off: {URL_ENV} must start with http:// or https:// (got {url!r})"
    # Our own HTTP client: the package reads its timeout once at import time. The
    # package's test clients always use their own (no network), so none is made.
    http = None if issubclass(cls, akismet.TestSyncClient) else httpx.Client(
        timeout=settings.akismet_timeout, headers={"User-Agent": akismet.USER_AGENT})
    return cls(config=akismet.Config(key=key, url=url), http_client=http), "on"


_clients: dict[tuple, tuple[akismet.SyncClient | None, str]] = {}
_clients_lock = threading.Lock()


def _cached_client(settings: Settings) -> tuple[akismet.SyncClient | None, str]:
    """One client per configuration and process (its HTTP connections are reused)."""
    key = (repr(settings.akismet_client), secret(KEY_ENV), secret(URL_ENV),
           settings.akismet_timeout, settings.siteurl)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = akismet_client(settings)
        return _clients[key]


def akismet_arguments(settings: Settings, entry: Entry, permalink: str = "",
                      post_modified: datetime | None = None) -> dict[str, Any]:
    """Every comment-check field Akismet uses, from a stored entry."""
    comment_type = "reply" if entry.reply_to else "comment"
    if entry.is_linkback:
        comment_type = "trackback" if entry.type == "trackback" else "pingback"
    args: dict[str, Any] = {
        "user_agent": entry.user_agent,
        "referrer": entry.referrer,
        "permalink": permalink,
        "comment_type": comment_type,
        "comment_author": entry.author,
        "comment_author_email": entry.email,
        "comment_author_url": entry.url or entry.source,
        "comment_content": entry.body,
        "blog_lang": settings.lang,
        "blog_charset": "UTF-8",
        "comment_date_gmt": entry.date.isoformat(),
    }
    if post_modified is not None:
        if post_modified.tzinfo is None:
            post_modified = post_modified.replace(tzinfo=UTC)
        args["comment_post_modified_gmt"] = post_modified.astimezone(UTC).isoformat()
    return {name: value for name, value in args.items() if value}


def akismet_check(settings: Settings, entry: Entry, permalink: str = "", recheck: bool = False,
                  post_modified: datetime | None = None) -> tuple[str, str]:
    """Ask Akismet: returns (verdict, reason); verdict ham|spam|discard|unchecked|off."""
    client, status = _cached_client(settings)
    if client is None:
        return "off", f"Akismet {status}"
    args = akismet_arguments(settings, entry, permalink, post_modified)
    if recheck:
        args["recheck_reason"] = "recheck_queue"
    try:
        answer = client.comment_check(user_ip=entry.ip or "127.0.0.1", **args)
    except akismet.APIKeyError:
        return "unchecked", "Akismet rejected the API key or blog URL"
    except akismet.AkismetError as exc:
        return "unchecked", f"Akismet unavailable: {exc}"
    except Exception as exc:  # noqa: BLE001 - any client failure keeps the entry safe
        return "unchecked", f"Akismet failed: {exc.__class__.__name__}"
    if answer == akismet.CheckResponse.DISCARD:
        return "discard", "Akismet: blatant spam (discard)"
    if answer == akismet.CheckResponse.SPAM:
        return "spam", "Akismet: spam"
    return "ham", "Akismet: ham"


def send_feedback(settings: Settings, entry: Entry, is_spam: bool) -> str:
    """Tell Akismet a moderator's decision (submit-spam / submit-ham); returns a note."""
    client, status = _cached_client(settings)
    if client is None:
        return f"no Akismet feedback (Akismet {status})"
    if not entry.ip:
        return "no Akismet feedback (the entry has no IP address)"
    args = akismet_arguments(settings, entry)
    try:
        (client.submit_spam if is_spam else client.submit_ham)(user_ip=entry.ip, **args)
    except Exception as exc:  # noqa: BLE001 - feedback is best effort
        return f"Akismet feedback failed: {exc}"
    return "Akismet told: spam" if is_spam else "Akismet told: not spam"


# -- local rules -------------------------------------------------------------------
def _keyword_hit(keys: Iterable[str], entry: Entry) -> str:
    """The first keyword found in any field WordPress looks at (case-insensitive)."""
    haystack = "\n".join(
        [entry.author, entry.email, entry.url, entry.body, entry.ip, entry.user_agent]
    ).casefold()
    for key in keys:
        key = str(key).strip()
        if key and key.casefold() in haystack:
            return key
    return ""


#: A text's fingerprint in the index: 128 bits of its SHA-256.
_FINGERPRINT_CHARS = 32


def body_fingerprint(article: str, text: str) -> str:
    """The text as compared for duplicates: case, spacing and Unicode forms ignored."""
    normalized = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    digest = hashlib.sha256(f"{article}\0{normalized}".encode()).hexdigest()
    return digest[:_FINGERPRINT_CHARS]


def guard(settings: Settings) -> Guard | pg.Guard:
    """The flood counters and duplicate index for these settings (see the module)."""
    from .state import database_url, open_state

    if database_url():
        from .pg import Guard as Shared

        return Shared(open_state(settings).db)  # type: ignore[arg-type]
    return Guard(settings)


def held_bodies(store: CommentStore) -> dict[str, str]:
    """The duplicate index as the store gives it: each text's fingerprint, and the
    first reader's entry (oldest id) holding it (staff replies and the bin hold none)."""
    held: dict[str, str] = {}
    for state in ("pending", "approved", "spam"):
        for entry in store.entries(state):
            if not entry.staff:
                held.setdefault(body_fingerprint(entry.article, entry.body), entry.id)
    return held


class Guard:
    """Flood counters and the duplicate index, shared by all server processes.

    Both live in the cache folder and hold across any number of workers:

    - a flood counter is a file per key and minute that each request appends one
      byte to (``O_APPEND``, atomic, no lock between processes); a process keeps the
      minute's counters open, so a request costs a write and an fstat per key;
    - the duplicate index is one append-only file of ``fingerprint id`` lines
      (``bodies.log``). A claim takes an exclusive ``flock`` on it, reads what other
      processes appended since its last look, and appends its line only if the
      fingerprint is not there yet: check and claim are one step for all processes.
      Each process keeps the fingerprints it has read in memory (about 200 bytes
      per comment). No file is created per comment: creating an inode (a symlink
      per text, as before) cost more than the rest of the claim together.

    File names and lines hold hashes only, so no address, email or text appears
    in them. The index is derived: deleting it makes the next claim rebuild it
    from the store.
    """

    INDEX = "bodies.log"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = cache_path(settings) / "intake"
        self._root = str(self.root)
        self._window_ready = -1
        self._flood_lock = threading.Lock()
        self._flood_fds: dict[str, int] = {}
        self._flood_pid = 0
        #: The previous minute's count per key digest (read once per minute).
        self._previous: dict[str, int] = {}
        self._lock = threading.Lock()
        self._fd = -1
        self._fd_pid = 0
        self._offset = 0
        self._partial = False
        self._held: dict[str, str] = {}

    # -- flood control: a sliding one-minute window ------------------------------
    def flood(self, keys: Iterable[str], per_minute: int, now: float | None = None) -> int:
        """Count this request under each key; seconds to wait if any key is over the limit."""
        keys = [k for k in keys if k]
        if per_minute <= 0 or not keys:
            return 0
        now = time.time() if now is None else now
        window, into = divmod(now, 60)
        window = int(window)
        wait = 0
        # Under one lock: the counters' descriptors are shared by this process's threads
        # and closed when the minute turns, never while another thread writes to one.
        with self._flood_lock:
            if window != self._window_ready or self._flood_pid != os.getpid():
                self._turn_window(window)
            for key in keys:
                digest = _key_digest(key)
                fd = self._flood_fds.get(digest)
                if fd is None:
                    fd = self._open_counter(window, digest)
                os.write(fd, b".")
                current = os.fstat(fd).st_size
                previous = self._previous.get(digest)
                if previous is None:
                    # The last minute's count is final: read it once per key and minute.
                    try:
                        previous = os.stat(
                            os.path.join(self._root, "flood", str(window - 1), digest)).st_size
                    except FileNotFoundError:
                        previous = 0
                    self._previous[digest] = previous
                # The previous minute counts for the part of it still inside the window.
                estimate = current + previous * (1 - into / 60)
                if estimate > per_minute:
                    wait = max(wait, int(60 - into) + 1)
        return wait

    #: Counter files kept open per process: more keys than this in a minute (many
    #: addresses at once) are opened per request again.
    MAX_OPEN_COUNTERS = 64

    def _open_counter(self, window: int, digest: str) -> int:
        folder = os.path.join(self._root, "flood", str(window))
        path = os.path.join(folder, digest)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:  # the window's folder was swept meanwhile
            os.makedirs(folder, exist_ok=True)
            fd = os.open(path, flags, 0o600)
        if len(self._flood_fds) >= self.MAX_OPEN_COUNTERS:
            self._close_counters()
        self._flood_fds[digest] = fd
        return fd

    def _close_counters(self) -> None:
        if self._flood_pid == os.getpid():  # after a fork they are the parent's
            for fd in self._flood_fds.values():
                with suppress(OSError):
                    os.close(fd)
        self._flood_fds = {}

    def _turn_window(self, window: int) -> None:
        """A new minute (or a new process): new counters, the old ones swept."""
        self._close_counters()
        self._previous = {}
        self._flood_pid = os.getpid()
        folder = os.path.join(self._root, "flood", str(window))
        if not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
            for old in (self.root / "flood").iterdir():
                if old.name.isdigit() and int(old.name) < window - 1:
                    shutil.rmtree(old, ignore_errors=True)
        self._window_ready = window

    # -- duplicate detection -----------------------------------------------------------
    def claim_body(self, article: str, text: str, entry_id: str) -> str:
        """Reserve this text on this article; returns the id holding it already, or ''."""
        fingerprint = body_fingerprint(article, text)
        with self._lock, self._index() as fd:
            holder = self._held.get(fingerprint)
            if holder:
                return holder
            self._append(fd, f"{fingerprint} {entry_id}\n")
            self._held[fingerprint] = entry_id
            return ""

    def add(self, store: CommentStore, entry: Entry, state: str) -> str:
        """Store a new entry unless its text is on its article already: returns the id
        holding the text, or '' (stored). The claim is given back if the store fails."""
        holder = self.claim_body(entry.article, entry.body, entry.id)
        if not holder:
            try:
                store.add(entry, state, fresh=True)
            except BaseException:
                self.release_body(entry.article, entry.body, entry.id)
                raise
        return holder

    def release_body(self, article: str, text: str, entry_id: str) -> None:
        """Give a reservation back (the entry could not be stored)."""
        fingerprint = body_fingerprint(article, text)
        try:
            with self._lock, self._index() as fd:
                if self._held.get(fingerprint) == entry_id:
                    self._append(fd, f"-{fingerprint} {entry_id}\n")
                    del self._held[fingerprint]
        except OSError as exc:
            log.warning("replik: cannot release a duplicate-index claim: %s", exc)

    @contextmanager
    def _index(self) -> Iterator[int]:
        """The index file, locked against the other processes and read to its end."""
        fd = self._open_index()
        fcntl.flock(fd, fcntl.LOCK_EX)
        status = os.fstat(fd)
        if status.st_nlink == 0:
            # Deleted (the cache was cleared) since this process opened it: build the
            # index again. A stat per claim would see it too, at one call more each time.
            fcntl.flock(fd, fcntl.LOCK_UN)
            fd = self._open_index(fresh=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
            status = os.fstat(fd)
        try:
            self._catch_up(fd, status.st_size)
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _open_index(self, fresh: bool = False) -> int:
        path = os.path.join(self._root, self.INDEX)
        if self._fd >= 0:
            if self._fd_pid == os.getpid() and not fresh:
                return self._fd
            if self._fd_pid == os.getpid():
                os.close(self._fd)
            self._fd = -1  # after a fork the descriptor (and its lock) is the parent's
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            self._seed(path)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        self._fd, self._fd_pid = fd, os.getpid()
        self._offset, self._partial, self._held = 0, False, {}
        return fd

    def _seed(self, path: str) -> None:
        # The index is derived: build it from the store, then link it in at once
        # (link refuses to replace a file another process put there first).
        os.makedirs(self._root, exist_ok=True)
        building = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        held = held_bodies(open_store(self.settings))
        try:
            with open(building, "w", encoding="ascii") as out:
                out.writelines(f"{f} {i}\n" for f, i in held.items())
            os.link(building, path)
        except FileExistsError:
            pass  # another process was first; use its index
        finally:
            with suppress(FileNotFoundError):
                os.unlink(building)

    def _catch_up(self, fd: int, size: int) -> None:
        """Read the lines other processes appended since the last look (lock held)."""
        if size <= self._offset:
            return
        data = os.pread(fd, size - self._offset, self._offset)
        complete = data.rfind(b"\n") + 1
        for line in data[:complete].decode("ascii", "replace").splitlines():
            fingerprint, _, entry_id = line.partition(" ")
            if fingerprint.startswith("-"):
                if self._held.get(fingerprint[1:]) == entry_id:
                    del self._held[fingerprint[1:]]
            elif len(fingerprint) == _FINGERPRINT_CHARS and entry_id:
                self._held.setdefault(fingerprint, entry_id)
        # With the lock held nobody is writing: a line without its newline is the
        # torn end of a crashed write. Skip it; the next line starts on its own.
        self._partial = complete < len(data)
        self._offset = size

    def _append(self, fd: int, line: str) -> None:
        data = ("\n" if self._partial else "") + line
        os.write(fd, data.encode("ascii"))
        self._offset += len(data)
        self._partial = False


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


#: Per store (its location): when its approved authors were read, and who they are,
#: ``(email casefolded, name) -> an entry id``.
_known: dict[str, tuple[float, dict[tuple[str, str], str]]] = {}
#: Seconds the approved authors are used before they are read again.
KNOWN_AUTHORS_MAX_AGE = 60.0


def known_author(settings: Settings, entry: Entry) -> bool:
    """Has this name and email an approved comment already (WordPress's rule)?

    The approved authors are read once a minute, not per comment (20,000 approved
    entries take most of a second to read), so a first approval counts from the next
    reading on. A hit is checked against its entry: one trashed or forgotten since
    counts no more."""
    if not entry.email:
        return False
    store = open_store(settings)
    read_at, authors = _known.get(store.location, (float("-inf"), {}))
    now = time.monotonic()
    if now - read_at > KNOWN_AUTHORS_MAX_AGE:
        authors = {(old.email.casefold(), old.author): old.id
                   for thread in store.approved_by_article(bodies=False).values()
                   for old in thread if old.email and not old.staff}
        _known[store.location] = (now, authors)
    key = (entry.email.casefold(), entry.author)
    found = store.find(authors[key]) if key in authors else None
    return (found is not None and found.state == "approved" and not found.staff
            and (found.email.casefold(), found.author) == key)


def screen(settings: Settings, entry: Entry, *, honeypot: str = "", permalink: str = "",
           post_modified: datetime | None = None) -> Verdict:
    """The full decision for a new entry: the rules that call it spam on their own
    (honeypot, disallowed keywords), then Akismet, then the holds (links, moderation
    keywords) that make even a fine entry wait for a moderator."""
    if honeypot.strip():
        return Verdict("spam", "spam", "honeypot field filled in", notify=False)
    if hit := _keyword_hit(settings.disallowed_keys, entry):
        return Verdict("spam", "spam", f"disallowed keyword {hit!r}", notify=False)
    verdict, reason = akismet_check(settings, entry, permalink, post_modified=post_modified)
    if verdict in ("spam", "discard"):
        return Verdict("spam", verdict, reason, notify=False)
    if verdict == "off":
        verdict, reason = "ham", f"local rules only ({reason})"
    links = count_links(entry.body)
    if 0 < settings.hold_links <= links:
        return Verdict("pending", verdict, f"{reason}; held: {links} links")
    if hit := _keyword_hit(settings.moderation_keys, entry):
        return Verdict("pending", verdict, f"{reason}; held: moderation keyword {hit!r}")
    if verdict == "ham" and settings.auto_approve_known and known_author(settings, entry):
        return Verdict("approved", verdict, f"{reason}; known author", notify=False)
    return Verdict("pending", verdict, reason)


# -- recheck -------------------------------------------------------------------------
@dataclass
class RecheckResult:
    entry_id: str
    verdict: str
    reason: str
    moved_to: str


def recheck(settings: Settings, include_all_pending: bool = False) -> list[RecheckResult]:
    """Ask Akismet again about pending entries marked unchecked (or all pending)."""
    store = open_store(settings)
    results: list[RecheckResult] = []
    for entry in list(store.entries("pending")):
        if not include_all_pending and entry.spam_verdict != "unchecked":
            continue
        verdict, reason = akismet_check(settings, entry, recheck=True)
        if verdict in ("off", "unchecked"):
            results.append(RecheckResult(entry.id, verdict, reason, "pending"))
            continue
        entry.spam_verdict = verdict
        entry.spam_reason = reason + " (recheck)"
        store.update(entry)
        target = "spam" if verdict in ("spam", "discard") else "pending"
        if target != "pending":
            store.move(entry.id, target)
        results.append(RecheckResult(entry.id, verdict, reason, target))
    return results


def describe(settings: Settings) -> list[str]:
    """Lines saying which protections are active (for the server's start)."""
    client, status = akismet_client(settings)
    lines = []
    if client is None:
        lines.append(f"Akismet: {status}; comments are screened by the local rules alone")
    else:
        name = type(client).__name__
        test = " (test client, no network)" if isinstance(client, akismet.TestSyncClient) else ""
        lines.append(f"Akismet: on via {name}{test}")
    per_minute = settings.flood_per_minute
    rules = [
        "honeypot",
        f"flood control {per_minute}/min per IP and email" if per_minute else "no flood control",
        "duplicate detection",
        f"hold with ≥ {settings.hold_links} links",
        f"{len(settings.moderation_keys)} moderation keywords",
        f"{len(settings.disallowed_keys)} disallowed keywords",
        "auto-approve known authors" if settings.auto_approve_known else
        "every comment is moderated",
    ]
    lines.append("Local rules: " + ", ".join(rules))
    return lines

