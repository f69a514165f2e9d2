"""Comment feeds (Atom and RSS) built with feedgen: one per article and one site-wide."""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from feedgen.feed import FeedGenerator

from .i18n import gettext_for
from .settings import cache_path, with_defaults
from .thread import CommentNode

log = logging.getLogger(__name__)
FEEDGEN_VERSION = version("feedgen")


def site_url(settings: dict[str, Any]) -> str:
    """Feeds need absolute links; fall back to the local server's address."""
    return str(settings.get("FEED_DOMAIN") or settings.get("SITEURL") or "http://127.0.0.1:8000")


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def atomic_write(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` via a temporary file and rename; skip if unchanged."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return True


@dataclass(frozen=True)
class FeedItem:
    link: str
    title: str
    author: str
    date: datetime
    html: str


@dataclass(frozen=True)
class FeedSpec:
    """Everything a comment feed's bytes depend on (so it can key a cache)."""

    title: str
    description: str
    language: str
    page_url: str
    self_url: str
    updated: datetime
    items: tuple[FeedItem, ...]

    def key(self, fmt: str) -> str:
        text = repr((fmt, FEEDGEN_VERSION, self))
        return hashlib.sha1(text.encode("utf-8")).hexdigest()


def make_spec(
    settings: dict[str, Any],
    title: str,
    page_url: str,
    self_url: str,
    items: Iterable[tuple[Any, CommentNode]],
    fallback_updated: datetime,
) -> FeedSpec:
    """A feed of comment nodes; ``items`` are (article, node) pairs, newest first."""
    _ = gettext_for(settings)
    base = site_url(settings)
    feed_items = []
    newest = fallback_updated
    # Pelican computes article.url anew on every access; ask once per article.
    urls: dict[int, str] = {}
    for article, node in items:
        url = urls.get(id(article))
        if url is None:
            url = urls[id(article)] = f"{base}/{article.url}"
        author = node.author or _("Anonymous")
        if node.is_linkback:
            entry_title = _("Linkback from %(source)s on %(title)s") % {
                "source": author, "title": article.title}
        else:
            entry_title = _("%(author)s on %(title)s") % {"author": author, "title": article.title}
        feed_items.append(FeedItem(
            f"{url}#{node.anchor}", entry_title, author, node.entry.date, str(node.html),
        ))
        newest = max(newest, node.entry.date)
    return FeedSpec(
        title=title,
        description=_("Comments on %(site)s") % {"site": settings.get("SITENAME", "")},
        language=str(settings.get("DEFAULT_LANG") or "de"),
        page_url=page_url,
        self_url=self_url,
        # The newest entry's date, not "now", so that builds are reproducible.
        updated=newest,
        items=tuple(feed_items),
    )


def render_feed(spec: FeedSpec, fmt: str) -> bytes:
    feed = FeedGenerator()
    # RSS's <author> must be an email address, which we never publish: use dc:creator.
    feed.load_extension("dc", atom=False, rss=True)
    feed.id(spec.self_url)
    feed.title(spec.title)
    # RSS takes the channel link from the last link() added, so rel=self comes first.
    feed.link(href=spec.self_url, rel="self")
    feed.link(href=spec.page_url, rel="alternate")
    feed.description(spec.description)
    feed.language(spec.language)
    for item in spec.items:
        entry = feed.add_entry(order="append")
        entry.id(item.link)
        entry.link(href=item.link)
        entry.title(item.title)
        entry.author(name=item.author)
        entry.dc.dc_creator(item.author)
        entry.published(item.date)
        entry.updated(item.date)
        entry.content(item.html, type="html")
    feed.updated(spec.updated)
    feed.lastBuildDate(spec.updated)
    return feed.atom_str(pretty=True) if fmt == "atom" else feed.rss_str(pretty=True)


class FeedCache:
    """Remembers which inputs produced each feed file, and keeps the feed's bytes.

    An unchanged feed whose file is still in the output is skipped; one whose file
    is gone (a build into an emptied output folder) is copied back from the cache
    instead of being generated again. Only a cache: a missing or unreadable file
    means the feed is generated.
    """

    def __init__(self, folder: Path | None) -> None:
        self.path = folder / "feeds.json" if folder else None
        self.store = folder / "feeds" if folder else None
        self.keys: dict[str, str] = {}
        self.used: set[str] = set()
        self.dirty = False
        if self.path is not None and self.path.exists():
            try:
                self.keys = dict(json.loads(self.path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                self.keys = {}

    def write(self, target: Path, spec: FeedSpec, fmt: str) -> None:
        key = spec.key(fmt)
        name = str(target)
        self.used.add(key)
        if self.keys.get(name) == key and target.exists():
            return
        kept = self.store / f"{key}.xml" if self.store else None
        data = None
        if kept is not None:
            try:
                data = kept.read_bytes()
            except OSError:
                data = None
        if data is None:
            data = render_feed(spec, fmt)
            if kept is not None:
                try:
                    atomic_write(kept, data)
                except OSError as exc:
                    log.warning("replik: could not keep a feed in the cache (%s)", exc)
        atomic_write(target, data)
        self.keys[name] = key
        self.dirty = True

    def save(self, prune: bool = False) -> None:
        """Write the manifest; ``prune`` drops kept feeds this build did not use."""
        if self.path is None:
            return
        if self.dirty:
            try:
                atomic_write(self.path, json.dumps(self.keys, sort_keys=True).encode("utf-8"))
            except OSError as exc:
                log.warning("replik: could not write the feed cache %s (%s)", self.path, exc)
        if prune and self.store is not None and self.store.is_dir():
            for kept in self.store.glob("*.xml"):
                if kept.stem not in self.used:
                    kept.unlink(missing_ok=True)


class CommentFeedGenerator:
    """A Pelican generator (via get_generators) that writes the comment feeds."""

    def __init__(self, context: dict[str, Any], settings: dict[str, Any], path: str,
                 theme: str, output_path: str, *args: Any, **kwargs: Any) -> None:
        self.context = context
        self.settings = with_defaults(settings)
        self.output_path = Path(output_path)

    def generate_context(self) -> None:
        """Nothing to add: the articles carry their comments already."""

    def generate_output(self, writer: Any) -> None:
        write_comment_feeds(self.context.get("articles", []), self.settings, self.output_path)


def article_spec(article: Any, settings: dict[str, Any], fmt: str) -> FeedSpec:
    _ = gettext_for(settings)
    base = site_url(settings)
    path = article.comment_feed_atom if fmt == "atom" else article.comment_feed_rss
    nodes = sorted(article.comments_flat, key=lambda n: (n.entry.date, n.id), reverse=True)
    return make_spec(
        settings,
        _("Comments on %(title)s") % {"title": article.title},
        f"{base}/{article.url}",
        f"{base}/{path}",
        ((article, node) for node in nodes),
        _aware(article.date),
    )


def latest_pairs(articles: list[Any], settings: dict[str, Any]) -> list[tuple[Any, CommentNode]]:
    """The newest REPLIK_FEED_LATEST_COUNT (article, node) pairs across the site."""
    pairs = ((a, n) for a in articles for n in getattr(a, "comments_flat", []))
    count = int(settings["REPLIK_FEED_LATEST_COUNT"])
    return heapq.nlargest(count, pairs, key=lambda p: (p[1].entry.date, p[1].id))


def latest_spec(articles: list[Any], settings: dict[str, Any], fmt: str,
                pairs: list[tuple[Any, CommentNode]] | None = None) -> FeedSpec:
    _ = gettext_for(settings)
    base = site_url(settings)
    if pairs is None:
        pairs = latest_pairs(articles, settings)
    path = settings["REPLIK_FEED_LATEST"] if fmt == "atom" else settings["REPLIK_FEED_LATEST_RSS"]
    oldest = min((_aware(a.date) for a in articles), default=datetime(2000, 1, 1, tzinfo=UTC))
    return make_spec(
        settings,
        _("Latest comments on %(site)s") % {"site": settings.get("SITENAME", "")},
        f"{base}/",
        f"{base}/{path}",
        pairs,
        oldest,
    )


def write_comment_feeds(articles: list[Any], settings: dict[str, Any], output: Path,
                        only: set[str] | None = None) -> list[Path]:
    """Write the per-article feeds (all, or the slugs in ``only``) and the latest feed.

    A feed whose inputs are unchanged since it was last written is not generated again.
    """
    cache = FeedCache(cache_path(settings) if settings.get("REPLIK_CACHE") else None)
    written: list[Path] = []
    for article in articles:
        if not hasattr(article, "comments_flat"):
            continue
        if only is not None and article.slug not in only:
            continue
        for fmt, path in (("atom", article.comment_feed_atom), ("rss", article.comment_feed_rss)):
            target = output / path
            cache.write(target, article_spec(article, settings, fmt), fmt)
            written.append(target)
    newest = latest_pairs(articles, settings)
    for fmt, key in (("atom", "REPLIK_FEED_LATEST"), ("rss", "REPLIK_FEED_LATEST_RSS")):
        target = output / settings[key]
        cache.write(target, latest_spec(articles, settings, fmt, newest), fmt)
        written.append(target)
    # A full run has seen every feed, so kept feeds it did not use are stale.
    cache.save(prune=only is None)
    return written
