"""Comment feeds (Atom and RSS), one per article and one site-wide.

A ``FeedSpec`` holds everything a feed says; feedxml makes its bytes (the bytes
feedgen would write, at a tenth of its cost; tests/test_feedxml.py keeps feedgen as
the reference); writers.CommentFeeds writes them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import feedxml
from .i18n import gettext_for
from .render import as_aware
from .settings import Settings
from .thread import CommentNode, render_node


def site_url(settings: Settings) -> str:
    """Feeds need absolute links; fall back to the local server's address."""
    return settings.feed_domain or settings.siteurl or "http://127.0.0.1:8000"


@dataclass(slots=True)
class FeedItem:
    link: str
    title: str
    author: str
    date: datetime
    html: str


@dataclass(frozen=True)
class FeedSpec:
    """Everything a comment feed's bytes depend on."""

    title: str
    description: str
    language: str
    page_url: str
    #: The feed's own address in each format (atom, rss).
    self_urls: tuple[str, str]
    updated: datetime
    items: tuple[FeedItem, ...]


FORMATS = ("atom", "rss")


def make_spec(
    settings: Settings,
    title: str,
    page_url: str,
    self_urls: tuple[str, str],
    items: Iterable[tuple[Any, CommentNode]],
    fallback_updated: datetime,
    lang: str | None = None,
    page_urls: dict[int, str] | None = None,
) -> FeedSpec:
    """A feed of comment nodes; ``items`` are (article, node) pairs, newest first;
    its words in ``lang`` (the site's language by default). ``page_urls``: the
    articles' absolute addresses already known, by id()."""
    _ = gettext_for(settings, lang)
    base = site_url(settings)
    feed_items = []
    newest = fallback_updated
    # Translated once per feed, not per entry.
    anonymous = _("Anonymous")
    linkback_title = _("Linkback from %(source)s on %(title)s")
    comment_title = _("%(author)s on %(title)s")
    # Pelican computes article.url anew on every access (about 25 µs); ask once.
    urls: dict[int, str] = dict(page_urls or {})
    for article, node in items:
        url = urls.get(id(article))
        if url is None:
            url = urls[id(article)] = f"{base}/{article.url}"
        author = node.author or anonymous
        if node.is_linkback:
            entry_title = linkback_title % {"source": author, "title": article.title}
        else:
            entry_title = comment_title % {"author": author, "title": article.title}
        feed_items.append(FeedItem(
            f"{url}#{node.anchor}", entry_title, author, node.entry.date, str(node.html),
        ))
        newest = max(newest, node.entry.date)
    return FeedSpec(
        title=title,
        description=_("Comments on %(site)s") % {"site": settings.sitename},
        language=lang or settings.lang,
        page_url=page_url,
        self_urls=self_urls,
        # The newest entry's date, not "now", so that builds are reproducible.
        updated=newest,
        items=tuple(feed_items),
    )


def render_feeds(spec: FeedSpec) -> dict[str, bytes]:
    """The feed in both formats (format -> bytes)."""
    atom, rss = feedxml.render(spec)
    return {"atom": atom, "rss": rss}


def article_spec(article: Any, settings: Settings) -> FeedSpec:
    """An article's comment feed, in the article's language."""
    lang = getattr(article, "lang", None) or settings.lang
    _ = gettext_for(settings, lang)
    base = site_url(settings)
    # comments_flat is in (date, id) order: the newest first, at most the setting's count.
    count = settings.feed_article_count
    nodes = article.comments_flat[::-1]
    if count > 0:
        nodes = nodes[:count]
    page = f"{base}/{article.url}"
    return make_spec(
        settings,
        _("Comments on %(title)s") % {"title": article.title},
        page,
        (f"{base}/{article.comment_feed_atom}", f"{base}/{article.comment_feed_rss}"),
        ((article, node) for node in nodes),
        as_aware(article.date),
        lang,
        page_urls={id(article): page},
    )


def latest_pairs(articles: list[Any], settings: Settings) -> list[tuple[Any, CommentNode]]:
    """The newest REPLIK_FEED_LATEST_COUNT (article, node) pairs across the site.

    Chosen from the articles' entries, so only the chosen few are rendered (an
    article's thread may have been released after its page was written).
    """
    count = settings.feed_latest_count
    locale = settings.lang
    timezone = settings.timezone
    candidates = ((a, e) for a in articles
                  for e in getattr(getattr(a, "replik_thread", None), "entries", ()))
    chosen = heapq.nlargest(count, candidates, key=lambda p: (p[1].date, p[1].id))
    return [(article, render_node(article.replik_thread.with_body(entry),
                                  getattr(article, "lang", locale) or locale, timezone))
            for article, entry in chosen]


def latest_spec(articles: list[Any], settings: Settings) -> FeedSpec:
    _ = gettext_for(settings)
    base = site_url(settings)
    oldest = min((as_aware(a.date) for a in articles), default=datetime(2000, 1, 1, tzinfo=UTC))
    return make_spec(
        settings,
        _("Latest comments on %(site)s") % {"site": settings.sitename},
        f"{base}/",
        (f"{base}/{settings.feed_latest}",
         f"{base}/{settings.feed_latest_rss}"),
        latest_pairs(articles, settings),
        oldest,
    )
