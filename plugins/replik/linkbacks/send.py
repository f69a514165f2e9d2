"""Sending: tell the posts we link to that we linked to them.

For each published article, the external links of its content are found; for
each target its Webmention endpoint (W3C Webmention §3.1.2: HTTP ``Link`` header,
then the first ``<link>``/``<a rel="webmention">``) or else its Pingback server
(``X-Pingback`` header, then ``<link rel="pingback">``) is discovered and
notified. Every request goes through the guarded fetcher.

What was sent is remembered in the state file (``state.sent``) per source and
target with the content hash of the post at the time: an unchanged post sends
nothing again. A changed post re-sends its webmentions (that is how a receiver
learns about updates, including links that were removed), but never a second
pingback for the same pair.

The state file also remembers which posts have been published (their
site-relative URLs). A post that was published and is no longer (deleted, a draft again, or
moved to another URL) is deleted: its webmentions are sent once more, and since
its address now answers 410 Gone (see replik/gone.py) the receivers delete their
mentions of it (W3C Webmention, "Sending Webmentions for Deleted Posts").
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from ..articles import read_content
from ..fetch import FetchError, blocked_reason, fetch
from ..gone import published_urls, sent_log
from ..settings import Settings
from ..state import SentLinkbacks
from .html import Page
from .receive import host_listed, host_of

log = logging.getLogger(__name__)

DISCOVERY_TYPES = ("text/html", "application/xhtml+xml")
XMLRPC_TYPES = ("text/xml", "application/xml")
_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL_RE = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s";,]+))""", re.I)


@dataclass
class Post:
    slug: str
    title: str
    url: str  # absolute permalink
    content: str  # rendered HTML of the post's body
    digest: str = ""
    path: str = ""  # site-relative URL (article.url)

    def __post_init__(self) -> None:
        if not self.digest:
            self.digest = hashlib.sha256(self.content.encode("utf-8")).hexdigest()


@dataclass
class Endpoint:
    kind: str  # webmention | pingback | none
    url: str = ""  # the endpoint, or why there is none
    transient: bool = False  # no answer now; try again next time


@dataclass
class Outcome:
    source: str
    target: str
    kind: str  # webmention | pingback | none | skipped | error
    endpoint: str = ""
    detail: str = ""
    ok: bool = True
    removed: bool = False
    deleted: bool = False  # the post itself is gone


# -- what we publish ---------------------------------------------------------------


class NotPublic(ValueError):
    """SITEURL is not an address other sites can reach; sending would announce it."""


def check_public_site(settings: Settings) -> str:
    """Our public address, or NotPublic (e.g. the local SITEURL of pelicanconf.py)."""
    site = settings.siteurl.strip()
    host = host_of(site)
    problem = ""
    if not site.startswith(("http://", "https://")) or not host:
        problem = "is not an absolute http(s) URL"
    elif host == "localhost" or host.endswith(".localhost"):
        problem = "is a local address"
    else:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and blocked_reason(address):
            problem = f"is {blocked_reason(address)}"
    if problem:
        raise NotPublic(f"SITEURL {site!r} {problem}: other sites cannot reach it. Send with "
                        "the production settings: replik --settings publishconf.py linkbacks send")
    return site


def _quiet_static_links(record: logging.LogRecord) -> bool:
    # Reading content without the static generator makes Pelican warn about every
    # {static} link; those warnings belong to the real build, not to us.
    return "skipping url replacement" not in record.getMessage()


def published_posts(settings: Settings) -> list[Post]:
    """Every published article (and translation) with its rendered content."""
    from pelican.generators import ArticlesGenerator

    base = settings.siteurl.rstrip("/")
    pelican_log = logging.getLogger("pelican.contents")
    pelican_log.addFilter(_quiet_static_links)
    try:
        (generator,) = read_content(settings, ArticlesGenerator)
        # ``content`` is rendered lazily: read it while the filter is on.
        return [
            Post(slug=a.slug, title=str(a.title), url=f"{base}/{a.url}", content=a.content,
                 path=str(a.url))
            for a in list(generator.articles) + list(generator.translations)
        ]
    finally:
        pelican_log.removeFilter(_quiet_static_links)


def external_links(post: Post, settings: Settings) -> list[str]:
    """http(s) links of the post's content to other sites, minus the ignore list."""
    own = host_of(settings.siteurl)
    ignore = list(settings.linkback_send_ignore)
    page = Page.parse(post.url, f"<html><body>{post.content}</body></html>", "text/html")
    return [url for url in page.all_links()
            if (host := host_of(url)) and host != own and not host_listed(host, ignore)]


# -- discovery ------------------------------------------------------------------------


def _link_header_rels(values: list[str]) -> list[tuple[str, set[str]]]:
    found: list[tuple[str, set[str]]] = []
    for value in values:
        for match in _LINK_RE.finditer(value):
            rel = _REL_RE.search(match.group(2) or "")
            if rel:
                found.append((match.group(1).strip(), set((rel.group(1) or rel.group(2))
                                                          .lower().split())))
    return found


def discover(target: str, settings: Settings) -> Endpoint:
    """The target's Webmention endpoint, else its Pingback server, else none."""
    try:
        result = fetch(target, settings, accept_types=None, max_bytes=1024 * 1024)
    except FetchError as exc:
        log.info("replik: discovery for %s failed: %s", target, exc)
        return Endpoint("none", f"cannot fetch: {exc}", transient=True)
    if not 200 <= result.status < 300:
        return Endpoint("none", f"HTTP {result.status}", transient=result.status >= 500)
    base = result.url
    for href, rels in _link_header_rels(result.headers.get_list("link")):
        if "webmention" in rels:
            return Endpoint("webmention", urljoin(base, href))
    root = (Page.parse(base, result.text, result.media_type).root
            if result.media_type in DISCOVERY_TYPES else None)
    if root is not None:
        for element in root.iter("link", "a"):
            rels = set((element.get("rel") or "").lower().split())
            href = element.get("href")
            if "webmention" in rels and href is not None:
                return Endpoint("webmention", urljoin(base, href.strip()))
    header = result.headers.get("x-pingback", "").strip()
    if header:
        return Endpoint("pingback", urljoin(base, header))
    if root is not None:
        for element in root.iter("link"):
            rels = set((element.get("rel") or "").lower().split())
            if "pingback" in rels and element.get("href"):
                return Endpoint("pingback", urljoin(base, element.get("href").strip()))
    return Endpoint("none", "no webmention or pingback endpoint")


# -- notifying ---------------------------------------------------------------------------


def send_webmention(endpoint: str, source: str, target: str, settings: Settings
                    ) -> tuple[bool, str]:
    try:
        result = fetch(endpoint, settings, method="POST", data={"source": source,
                       "target": target}, accept_types=None, max_bytes=64 * 1024)
    except FetchError as exc:
        return False, str(exc)
    if 200 <= result.status < 300:
        return True, f"HTTP {result.status}"
    return False, f"HTTP {result.status}: {result.text[:200].strip()}"


def send_pingback(endpoint: str, source: str, target: str, settings: Settings
                  ) -> tuple[bool, str]:
    body = xmlrpc.client.dumps((source, target), "pingback.ping").encode("utf-8")
    try:
        result = fetch(endpoint, settings, method="POST", data=body,
                       headers={"Content-Type": "text/xml"}, accept_types=XMLRPC_TYPES,
                       max_bytes=64 * 1024)
    except FetchError as exc:
        return False, str(exc)
    if result.status != 200:
        return False, f"HTTP {result.status}"
    try:
        (answer,), _method = xmlrpc.client.loads(result.content)
    except xmlrpc.client.Fault as fault:
        if fault.faultCode == 0x30:  # already registered: the receiver has it
            return True, f"already registered ({fault.faultString})"
        return False, f"fault {fault.faultCode}: {fault.faultString}"
    except Exception as exc:  # noqa: BLE001 - any broken answer is a failed ping
        return False, f"unreadable answer ({exc.__class__.__name__})"
    return True, str(answer)[:200]


# -- the run ---------------------------------------------------------------------------------


#: The "hash" of a post that is gone, in the sent-log.
DELETED = "deleted"


@dataclass
class Plan:
    post: Post
    target: str
    removed: bool = False  # the post linked to it before and no longer does
    deleted: bool = False  # the post is gone (its URL answers 410)


def deleted_sources(posts: list[Post], sent: SentLinkbacks, settings: Settings) -> list[str]:
    """Sources of the sent-log under SITEURL that are no published post now."""
    if not posts:
        # No post at all is a wrong PATH far more often than a blog deleted whole.
        return []
    base = settings.siteurl.rstrip("/") + "/"
    current = {post.url for post in posts}
    return [source for source in sent.sources()
            if base != "/" and source.startswith(base) and source not in current]


def plan(posts: list[Post], sent: SentLinkbacks, settings: Settings) -> list[Plan]:
    """What needs sending: pairs whose post changed since they were last sent, and the
    webmentions of deleted posts not yet sent again."""
    todo: list[Plan] = []
    for source in deleted_sources(posts, sent, settings):
        gone = Post(slug="", title="", url=source, content="", digest=DELETED)
        for target in sent.targets(source):
            record = sent.get(source, target) or {}
            if (record.get("via") == "webmention" and record.get("hash") != DELETED
                    and not record.get("removed")):
                todo.append(Plan(gone, target, deleted=True))
    for post in posts:
        current = external_links(post, settings)
        for target in current:
            record = sent.get(post.url, target)
            if record is None or record.get("hash") != post.digest or not record.get("ok"):
                todo.append(Plan(post, target))
        for target in sent.targets(post.url):
            record = sent.get(post.url, target) or {}
            if (target not in current and record.get("hash") != post.digest
                    and record.get("via") == "webmention"):
                todo.append(Plan(post, target, removed=True))
    return todo


def run(settings: Settings, *, dry_run: bool = False, posts: list[Post] | None = None,
        progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Send what needs sending (or, with ``dry_run``, only say what that is); the
    outcome of each pair."""
    if not dry_run:
        check_public_site(settings)
    sent = sent_log(settings)
    posts = published_posts(settings) if posts is None else posts
    outcomes = []
    if not dry_run:
        # What went out at the public address is published from now on (replik/gone.py).
        sent.publish(published_urls(sent, settings) | {p.path for p in posts if p.path})
    for item in plan(posts, sent, settings):
        source, target = item.post.url, item.target
        if dry_run:
            detail = "post deleted" if item.deleted else "removed link" if item.removed else ""
            outcome = Outcome(source, target, "planned", removed=item.removed,
                              deleted=item.deleted, detail=detail)
        else:
            outcome = _send_one(item, sent.get(source, target) or {}, settings)
            if outcome.ok or outcome.kind == "none":
                # Recorded pair by pair: an interrupted run never sends twice.
                sent.record(source, target, {
                    "hash": item.post.digest, "via": outcome.kind, "ok": outcome.ok,
                    "endpoint": outcome.endpoint, "detail": outcome.detail,
                    "time": datetime.now(UTC).isoformat(timespec="seconds"),
                    "removed": item.removed, "deleted": item.deleted,
                })
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return outcomes


def _send_one(item: Plan, before: dict[str, Any], settings: Settings) -> Outcome:
    source, target = item.post.url, item.target
    endpoint = discover(target, settings)
    if endpoint.kind == "none":  # an error when a later try may find one
        return Outcome(source, target, "error" if endpoint.transient else "none",
                       detail=endpoint.url, ok=not endpoint.transient, removed=item.removed,
                       deleted=item.deleted)
    if endpoint.kind == "pingback":
        if item.deleted:
            return Outcome(source, target, "none", detail="pingback cannot tell of a deletion",
                           deleted=True)
        if item.removed:
            return Outcome(source, target, "none", detail="pingback cannot remove a link",
                           removed=True)
        if before.get("via") == "pingback" and before.get("ok"):
            return Outcome(source, target, "pingback", endpoint.url,
                           "pinged before; pingback has no updates")
        ok, detail = send_pingback(endpoint.url, source, target, settings)
        return Outcome(source, target, "pingback", endpoint.url, detail, ok)
    ok, detail = send_webmention(endpoint.url, source, target, settings)
    return Outcome(source, target, "webmention", endpoint.url, detail, ok, item.removed,
                   item.deleted)
