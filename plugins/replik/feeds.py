"""Comment feeds (Atom and RSS), one per article and one site-wide: a ``FeedSpec``
holds everything a feed says; feedxml makes its bytes, writers.CommentFeeds writes them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


def make_spec(
    settings: Settings,
    title: str,
    page_url: str,
    self_urls: tuple[str, str],
    items: Iterable[tuple[str, str, CommentNode]],
    fallback_updated: datetime,
    lang: str | None = None,
) -> FeedSpec:
    """A feed of comment nodes; ``items`` are (the page's address, its title, node),
    newest first; its words in ``lang`` (the site's language by default)."""
    _ = gettext_for(settings, lang)
    # Translated once per feed, not per entry.
    anonymous = _("Anonymous")
    linkback_title = _("Linkback from %(source)s on %(title)s")
    comment_title = _("%(author)s on %(title)s")
    feed_items = []
    for url, page_title, node in items:
        author = node.author or anonymous
        words = {"source": author, "author": author, "title": page_title}
        feed_items.append(FeedItem(
            f"{url}#{node.anchor}", (linkback_title if node.is_linkback else comment_title) % words,
            author, node.entry.date, str(node.html)))
    return FeedSpec(
        title=title,
        description=_("Comments on %(site)s") % {"site": settings.sitename},
        language=lang or settings.lang,
        page_url=page_url,
        self_urls=self_urls,
        # The newest entry's date, not "now", so that builds are reproducible.
        updated=max([fallback_updated, *(item.date for item in feed_items)]),
        items=tuple(feed_items),
    )


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
    page = f"{base}/{article.url}"  # Pelican computes article.url anew on every access
    return make_spec(
        settings,
        _("Comments on %(title)s") % {"title": article.title},
        page,
        (f"{base}/{article.comment_feed_atom}", f"{base}/{article.comment_feed_rss}"),
        ((page, article.title, node) for node in nodes),
        as_aware(article.date),
        lang,
    )


def latest_spec(articles: list[Any], settings: Settings) -> FeedSpec:
    """The newest REPLIK_FEED_LATEST_COUNT entries across the site, chosen from the
    articles' entries, so only the chosen few are rendered (an article's thread may
    have been released after its page was written)."""
    _ = gettext_for(settings)
    base = site_url(settings)
    candidates = ((a, e) for a in articles
                  for e in getattr(getattr(a, "replik_thread", None), "entries", ()))
    chosen = heapq.nlargest(settings.feed_latest_count, candidates,
                            key=lambda p: (p[1].date, p[1].id))
    urls = {id(a): f"{base}/{a.url}" for a, _entry in chosen}  # once per article
    items = [(urls[id(article)], article.title,
              render_node(article.replik_thread.with_body(entry),
                          getattr(article, "lang", None) or settings.lang, settings.timezone))
             for article, entry in chosen]
    oldest = min((as_aware(a.date) for a in articles), default=datetime(2000, 1, 1, tzinfo=UTC))
    return make_spec(
        settings,
        _("Latest comments on %(site)s") % {"site": settings.sitename},
        f"{base}/",
        (f"{base}/{settings.feed_latest}", f"{base}/{settings.feed_latest_rss}"),
        items,
        oldest,
    )
