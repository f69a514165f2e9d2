"""Spam defence: local rules (as WordPress's discussion settings) and Akismet.

``screen(settings, entry, ...)`` decides where a new entry goes and why. The
local rules run first; Akismet (through the ``akismet`` package) is asked only
when the local rules did not already call the entry spam. When Akismet is not
configured, unreachable, slow or rejects the key, the entry stays pending and is
marked ``unchecked``; ``replik recheck`` asks again later.

Flood control and duplicate detection must hold across several server
processes, so they live in a small SQLite file in the cache folder (derived
data: deleting it only forgets the last minute's counters and the duplicate
index, which is rebuilt from the store).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import akismet
import httpx

from .render import count_links
from .settings import cache_path, secret
from .store import Entry, Store

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


def _client_class(settings: dict[str, Any]) -> type[akismet.SyncClient]:
    value = settings.get("REPLIK_AKISMET_CLIENT") or akismet.SyncClient
    if isinstance(value, str):
        module, _, name = value.rpartition(".")
        value = getattr(importlib.import_module(module), name)
    if not (isinstance(value, type) and issubclass(value, akismet.SyncClient)):
        raise TypeError(f"REPLIK_AKISMET_CLIENT must name an akismet.SyncClient class: {value!r}")
    return value


def akismet_client(settings: dict[str, Any]) -> tuple[akismet.SyncClient | None, str]:
    """An Akismet client for these settings, or None and the reason it is off."""
    try:
        cls = _client_class(settings)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        return None, f"off: REPLIK_AKISMET_CLIENT is not usable ({exc})"
    key, url = secret(KEY_ENV), secret(URL_ENV)
    if not key or not url:
        if issubclass(cls, akismet.TestSyncClient):
            # The package's test client never reaches the network; any config will do.
            key = key or "test-key"
            url = url or str(settings.get("SITEURL") or "http://example.com/")
        else:
            return None, f"off: {KEY_ENV} and {URL_ENV} are not both set"
    if not url.startswith(("http://", "https://")):
        return None, f"off: {URL_ENV} must start with http:// or https:// (got {url!r})"
    timeout = float(settings.get("REPLIK_AKISMET_TIMEOUT", 2.0))
    # Our own HTTP client: the package reads its timeout once at import time.
    http = httpx.Client(timeout=timeout, headers={"User-Agent": akismet.USER_AGENT})
    return cls(config=akismet.Config(key=key, url=url), http_client=http), "on"


_clients: dict[tuple, tuple[akismet.SyncClient | None, str]] = {}
_clients_lock = threading.Lock()


def _cached_client(settings: dict[str, Any]) -> tuple[akismet.SyncClient | None, str]:
    """One client per configuration and process (its HTTP connections are reused)."""
    key = (
        repr(settings.get("REPLIK_AKISMET_CLIENT")), secret(KEY_ENV), secret(URL_ENV),
        settings.get("REPLIK_AKISMET_TIMEOUT"), settings.get("SITEURL"),
    )
    with _clients_lock:
        if key not in _clients:
            _clients[key] = akismet_client(settings)
        return _clients[key]


def akismet_arguments(
    settings: dict[str, Any], entry: Entry, permalink: str = ""
) -> dict[str, Any]:
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
        "blog_lang": str(settings.get("DEFAULT_LANG") or "de"),
        "blog_charset": "UTF-8",
        "comment_date_gmt": entry.date.isoformat(),
    }
    modified = entry.extra.get("Article-Modified")
    if modified:
        args["comment_post_modified_gmt"] = modified
    return {name: value for name, value in args.items() if value}


def akismet_check(
    settings: dict[str, Any], entry: Entry, permalink: str = "", recheck: bool = False
) -> tuple[str, str]:
    """Ask Akismet: returns (verdict, reason); verdict ham|spam|discard|unchecked|off."""
    client, status = _cached_client(settings)
    if client is None:
        return "off", f"Akismet {status}"
    args = akismet_arguments(settings, entry, permalink)
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


def send_feedback(settings: dict[str, Any], entry: Entry, is_spam: bool) -> str:
    """Tell Akismet a moderator's decision (submit-spam / submit-ham); returns a note."""
    client, status = _cached_client(settings)
    if client is None:
        return f"no Akismet feedback (Akismet {status})"
    if not entry.ip:
        return "no Akismet feedback (the entry has no IP address)"
    args = akismet_arguments(settings, entry)
    try:
        if is_spam:
            client.submit_spam(user_ip=entry.ip, **args)
        else:
            client.submit_ham(user_ip=entry.ip, **args)
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


def normalized_text(text: str) -> str:
    """The text as compared for duplicates: case, spacing and Unicode forms ignored."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def body_fingerprint(article: str, text: str) -> str:
    return hashlib.sha256(f"{article}\0{normalized_text(text)}".encode()).hexdigest()


class Guard:
    """Flood counters and the duplicate index, shared by all server processes."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.path = cache_path(settings) / "intake.sqlite3"
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is not None:
            return db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL);
            CREATE INDEX IF NOT EXISTS hits_key ON hits (key, at);
            CREATE INDEX IF NOT EXISTS hits_at ON hits (at);
            CREATE TABLE IF NOT EXISTS bodies (fp TEXT PRIMARY KEY, entry TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
            """
        )
        self._local.db = db
        if fresh or not db.execute("SELECT 1 FROM meta WHERE name='seeded'").fetchone():
            self._seed(db)
        return db

    def _seed(self, db: sqlite3.Connection) -> None:
        # The duplicate index is derived: rebuild it from the store when it is new.
        from .settings import store_path

        rows = [
            (body_fingerprint(e.article, e.body), e.id)
            for state in ("pending", "approved", "spam")
            for e in Store(store_path(self.settings)).entries(state)
            if not e.staff
        ]
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT OR IGNORE INTO bodies VALUES (?, ?)", rows)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('seeded', ?)", (str(time.time()),))
        db.execute("COMMIT")

    def flood(self, keys: Iterable[str], per_minute: int, now: float | None = None) -> int:
        """Count this request under each key; seconds to wait if any key is over the limit."""
        keys = [k for k in keys if k]
        if per_minute <= 0 or not keys:
            return 0
        now = time.time() if now is None else now
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM hits WHERE at < ?", (now - 60,))
            wait = 0
            for key in keys:
                count, oldest = db.execute(
                    "SELECT COUNT(*), MIN(at) FROM hits WHERE key = ?", (key,)
                ).fetchone()
                if count >= per_minute:
                    wait = max(wait, int(oldest + 60 - now) + 1)
            if not wait:
                db.executemany("INSERT INTO hits VALUES (?, ?)", [(k, now) for k in keys])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return wait

    def claim_body(self, article: str, text: str, entry_id: str) -> str:
        """Reserve this text on this article; returns the id holding it already, or ''."""
        fp = body_fingerprint(article, text)
        db = self._db()
        cur = db.execute("INSERT OR IGNORE INTO bodies VALUES (?, ?)", (fp, entry_id))
        if cur.rowcount == 1:
            return ""
        row = db.execute("SELECT entry FROM bodies WHERE fp = ?", (fp,)).fetchone()
        return row[0] if row else ""

    def release_body(self, article: str, text: str, entry_id: str) -> None:
        """Give a reservation back (the entry could not be stored)."""
        fp = body_fingerprint(article, text)
        self._db().execute("DELETE FROM bodies WHERE fp = ? AND entry = ?", (fp, entry_id))


def known_author(settings: dict[str, Any], entry: Entry) -> bool:
    """Has this name and email an approved comment already (WordPress's rule)?"""
    if not entry.email:
        return False
    from .settings import store_path

    email = entry.email.casefold()
    for old in Store(store_path(settings)).entries("approved"):
        if old.email.casefold() == email and old.author == entry.author and not old.staff:
            return True
    return False


def local_verdict(settings: dict[str, Any], entry: Entry, honeypot: str = "") -> Verdict | None:
    """Rules that decide on their own: honeypot and disallowed keywords (spam)."""
    if honeypot.strip():
        return Verdict("spam", "spam", "honeypot field filled in", notify=False)
    hit = _keyword_hit(settings.get("REPLIK_DISALLOWED_KEYS") or [], entry)
    if hit:
        return Verdict("spam", "spam", f"disallowed keyword {hit!r}", notify=False)
    return None


def hold_reason(settings: dict[str, Any], entry: Entry) -> str:
    """Why an entry must wait for a moderator even if it looks fine ('' if none)."""
    limit = int(settings.get("REPLIK_HOLD_LINKS") or 0)
    links = count_links(entry.body)
    if limit > 0 and links >= limit:
        return f"held: {links} links"
    hit = _keyword_hit(settings.get("REPLIK_MODERATION_KEYS") or [], entry)
    if hit:
        return f"held: moderation keyword {hit!r}"
    return ""


def screen(
    settings: dict[str, Any], entry: Entry, *, honeypot: str = "", permalink: str = ""
) -> Verdict:
    """The full decision for a new entry: local rules, then Akismet, then holds."""
    decided = local_verdict(settings, entry, honeypot)
    if decided is not None:
        return decided
    verdict, reason = akismet_check(settings, entry, permalink)
    if verdict == "discard":
        return Verdict("spam", "discard", reason, notify=False)
    if verdict == "spam":
        return Verdict("spam", "spam", reason, notify=False)
    if verdict == "off":
        verdict, reason = "ham", f"local rules only ({reason})"
    held = hold_reason(settings, entry)
    if held:
        return Verdict("pending", verdict, f"{reason}; {held}")
    if (
        verdict == "ham"
        and settings.get("REPLIK_AUTO_APPROVE_KNOWN")
        and known_author(settings, entry)
    ):
        return Verdict("approved", verdict, f"{reason}; known author", notify=False)
    return Verdict("pending", verdict, reason)


# -- recheck -------------------------------------------------------------------------


@dataclass
class RecheckResult:
    entry_id: str
    verdict: str
    reason: str
    moved_to: str


def recheck(settings: dict[str, Any], include_all_pending: bool = False) -> list[RecheckResult]:
    """Ask Akismet again about pending entries marked unchecked (or all pending)."""
    from .settings import store_path

    store = Store(store_path(settings))
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


def describe(settings: dict[str, Any]) -> list[str]:
    """Lines saying which protections are active (for the server's start)."""
    client, status = akismet_client(settings)
    lines = []
    if client is None:
        lines.append(f"Akismet: {status}; comments are screened by the local rules alone")
    else:
        name = type(client).__name__
        test = " (test client, no network)" if isinstance(client, akismet.TestSyncClient) else ""
        lines.append(f"Akismet: on via {name}{test}")
    per_minute = int(settings.get("REPLIK_FLOOD_PER_MINUTE") or 0)
    rules = [
        "honeypot",
        f"flood control {per_minute}/min per IP and email" if per_minute else "no flood control",
        "duplicate detection",
        f"hold with ≥ {settings.get('REPLIK_HOLD_LINKS')} links",
        f"{len(settings.get('REPLIK_MODERATION_KEYS') or [])} moderation keywords",
        f"{len(settings.get('REPLIK_DISALLOWED_KEYS') or [])} disallowed keywords",
        "auto-approve known authors" if settings.get("REPLIK_AUTO_APPROVE_KNOWN") else
        "every comment is moderated",
    ]
    lines.append("Local rules: " + ", ".join(rules))
    return lines

