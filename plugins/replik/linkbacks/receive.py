"""What pingback, trackback and webmention share once the protocol is parsed.

Which article a target URL names, the access policy (blocklist, per-host and
per-IP rate limits), recognising a known source+target pair, and turning a
verified source into a stored entry that waits for moderation (spam screening
and the moderators' notice included).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import notify, spam
from ..articles import ArticleIndex, ArticleInfo
from ..gone import GoneList
from ..settings import Settings
from ..store import Entry, new_id
from ..storespec import open_store
from ..thread import REACTION_KINDS, entry_kind
from .html import clean, normalize_url, same_url
from .pairs import PairIndex
from .verify import Source

log = logging.getLogger(__name__)

ACTOR = "linkbacks"


class TargetProblem(Exception):
    """The target cannot take linkbacks; ``kind`` is missing or unusable."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Denied(Exception):
    """Refused by policy (blocklist or rate limit); ``retry_after`` in seconds if limited."""

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def host_listed(host: str, listed: list[str] | tuple[str, ...]) -> bool:
    """Is ``host`` one of ``listed`` or below one of them (a.b.example counts for example)?"""
    host = host.lower().rstrip(".")
    items = (str(item).strip().lower().strip(".") for item in listed)
    return any(item and (host == item or host.endswith("." + item)) for item in items)


def _record(entry: Entry) -> tuple[Any, ...]:
    return (entry.title, entry.author, entry.url, entry.body, dict(entry.extra))


def _shown(entry: Entry) -> tuple[str, ...]:
    """What readers see of a linkback, its badge aside: the words, and whether it shows
    as a comment (a reply), one line (a like or repost) or an excerpt (the rest)."""
    kind = entry_kind(entry)
    form = kind if kind == "reply" or kind in REACTION_KINDS else "excerpt"
    return (entry.title, entry.author, entry.url, entry.body,
            entry.extra.get("Author-Photo", ""), form)


def _origin(url: str) -> str:
    return normalize_url(url).split("/", 3)[2] if "//" in url else ""


class Receiver:
    """Receiving linkbacks for one blog."""

    def __init__(self, settings: Settings, index: ArticleIndex | None = None) -> None:
        self.settings = settings
        self.index = ArticleIndex(settings) if index is None else index
        self.store = open_store(settings)
        self.guard = spam.guard(settings)
        self.pairs = PairIndex(settings, self.store)
        self.gone = GoneList(Path(settings.output_path))

    # -- the target ----------------------------------------------------------
    def article_for(self, target: str) -> ArticleInfo:
        """The article ``target`` names; TargetProblem if it is not one of ours or closed.

        The kind follows Pingback's fault codes: ``missing`` only when the target
        definitely does not exist (a path of our site that the built site has no page
        for), ``unusable`` for everything that exists or may exist but takes no
        linkbacks (another site, our home page, a category, a page, a closed post).
        """
        site = self.settings.siteurl
        if not site or _origin(target) != _origin(site):
            raise TargetProblem("unusable",
                                f"{target} is not on this site ({site or 'no SITEURL'})")
        self.index.refresh(force=False)
        for article in self.index.articles.values():
            if same_url(article.permalink, target):
                if not article.open:
                    raise TargetProblem("unusable", f"comments on {target} are closed")
                return article
        base = site.rstrip("/")
        for page in self.index.pages:
            if same_url(f"{base}/{page.url}", target):
                raise TargetProblem("unusable", f"{target} is a page, not an article")
        if self.built_site_lacks(target):
            raise TargetProblem("missing", f"{target} is not an article of this site")
        raise TargetProblem("unusable", f"{target} is not an article of this site (only"
                            " posts take linkbacks)")

    def built_site_lacks(self, target: str) -> bool:
        """Whether the built site (OUTPUT_PATH) certainly has no page at ``target``.

        False whenever that cannot be known: no built site (no ``index.html``), or a
        path outside SITEURL's.
        """
        output = self.gone.output
        if not (output / "index.html").is_file():
            return False
        base = unquote(urlsplit(self.settings.siteurl).path).rstrip("/")
        try:
            path = unquote(urlsplit(target).path)
        except ValueError:
            return False
        if path != base and not path.startswith(base + "/"):
            return False
        if path in self.gone:
            return True  # a deleted post (its page may linger in output/)
        relative = os.path.normpath(path[len(base):].strip("/") or ".")
        if relative == ".." or relative.startswith("../"):
            return True  # above the site: nothing of ours is there
        found = output / relative
        if found.is_dir():
            found = found / "index.html"
        return not found.is_file()

    def article_by_slug(self, slug: str) -> ArticleInfo:
        article = self.index.get(slug)
        if article is None:
            raise TargetProblem("missing", f"there is no article {slug!r}")
        if not article.open:
            raise TargetProblem("unusable", f"comments on {slug!r} are closed")
        return article

    # -- policy ----------------------------------------------------------------
    def check_policy(self, source: str, ip: str = "") -> None:
        host = host_of(source)
        if host_listed(host, list(self.settings.linkback_blocklist)):
            raise Denied(f"linkbacks from {host} are not accepted")
        per_minute = self.settings.linkback_per_minute
        keys = [f"linkback-host:{host}"] + ([f"linkback-ip:{ip}"] if ip else [])
        wait = self.guard.flood(keys, per_minute)
        if wait:
            raise Denied(f"too many linkbacks from {host or ip}; try again in {wait} s", wait)

    # -- storing -----------------------------------------------------------------
    def _fill(self, entry: Entry, kind: str, source: Source, target: str) -> None:
        info = source.info
        limit = self.settings.max_length
        entry.title = (info.name or source.title or source.url)[:300]
        entry.author = (info.author_name or source.site_name)[:200]
        entry.url = info.author_url or source.site_root
        entry.source = source.url
        entry.extra["Target"] = target
        if kind == "webmention":
            entry.extra["Webmention-Kind"] = info.kind
            if info.author_photo:
                entry.extra["Author-Photo"] = info.author_photo
            else:
                entry.extra.pop("Author-Photo", None)
            # A reply is shown as its author's comment: its own words are the body.
            entry.body = (info.content if info.kind == "reply" and info.content
                          else source.excerpt)[:limit]
        else:
            entry.body = source.excerpt[:limit]

    def save(
        self, kind: str, source: Source, target: str, article: ArticleInfo, *,
        ip: str = "", user_agent: str = "", fallback_excerpt: str = "",
        fallback_title: str = "", fallback_author: str = "",
    ) -> Entry:
        """Store a new verified linkback; spam-screened, then pending (or spam)."""
        now = datetime.now(UTC)
        entry = Entry(id=new_id(now), article=article.slug, body="", date=now, type=kind,
                      ip=ip, user_agent=user_agent[:500])
        self._fill(entry, kind, source, target)
        if not entry.body and fallback_excerpt:
            entry.body = clean(fallback_excerpt)[:300]
        if fallback_title and entry.title == source.url:
            entry.title = clean(fallback_title)[:300]
        if fallback_author and not source.info.author_name:
            entry.author = clean(fallback_author)[:200]
        verdict = spam.screen(self.settings, entry, permalink=article.permalink)
        entry.spam_verdict, entry.spam_reason = verdict.verdict, verdict.reason
        self.store.add(entry, verdict.state)
        self.pairs.add(entry)
        self.store.audit(ACTOR, f"received {kind}", entry.id, "", verdict.state,
                         source=source.url, verdict=verdict.verdict)
        if verdict.notify:
            notify.notify_in_background(self.settings, entry, article.title, article.permalink)
        if verdict.state == "approved":
            from ..reader_mail import on_approved

            on_approved(self.settings, entry)  # a webmention reply tells the thread
        return entry

    def update(self, existing: Entry, source: Source, target: str,
               kind: str = "webmention") -> Entry:
        """A repeated webmention: refresh the stored entry from the source.

        The entry takes the type of this newest notification (a source first stored
        as a pingback or trackback that now sends a webmention becomes a webmention,
        with its kind: Webmention's update semantics). If an approved entry's
        visible text or form changed it goes back to pending, so that nothing a
        moderator has not seen reaches the page.
        """
        old_type = existing.type
        before = (existing.type, _record(existing), _shown(existing))
        existing.type = kind
        self._fill(existing, kind, source, target)
        if before == (existing.type, _record(existing), _shown(existing)):
            return existing
        self.store.update(existing)
        state = existing.state
        if state == "approved" and before[2] != _shown(existing):
            self.store.move(existing.id, "pending")
            existing.state = "pending"
        action = (f"updated {kind}" if old_type == kind
                  else f"updated {old_type} to {kind}")
        self.store.audit(ACTOR, action, existing.id, state, existing.state, source=source.url)
        return existing

    def remove(self, existing: Entry, reason: str) -> None:
        """The source is gone or no longer links to us: the linkback goes too."""
        self.store.delete(existing.id)
        self.store.audit(ACTOR, f"deleted {existing.type}", existing.id, existing.state,
                         "deleted", reason=reason, source=existing.source)
