"""Comment feeds (Atom and RSS), one per article and one site-wide.

A ``FeedSpec`` holds everything a feed says; feedxml writes it (the bytes feedgen
would write, at a tenth of its cost; tests/test_feedxml.py keeps feedgen as the
reference).
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import feedxml
from .i18n import gettext_for
from .render import as_aware
from .settings import with_defaults
from .store import read_bytes, write_all
from .thread import CommentNode, render_node


def site_url(settings: dict[str, Any]) -> str:
    """Feeds need absolute links; fall back to the local server's address."""
    return str(settings.get("FEED_DOMAIN") or settings.get("SITEURL") or "http://127.0.0.1:8000")


_made_dirs: set[str] = set()


def atomic_write(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write ``data`` to ``path`` via a temporary file and rename; skip if unchanged."""
    name = os.fspath(path)
    try:
        if read_bytes(name) == data:
            return False
    except OSError:
        pass
    folder = os.path.dirname(name)
    if folder not in _made_dirs:  # one mkdir per folder and process, not per file
        os.makedirs(folder, exist_ok=True)
        _made_dirs.add(folder)
    tmp = os.path.join(folder, f".{os.path.basename(name)}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(tmp, flags, 0o666)
    except FileNotFoundError:  # the folder went away since (an emptied output)
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, flags, 0o666)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, name)
    return True


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
    settings: dict[str, Any],
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
        description=_("Comments on %(site)s") % {"site": settings.get("SITENAME", "")},
        language=lang or str(settings.get("DEFAULT_LANG") or "de"),
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


def article_spec(article: Any, settings: dict[str, Any]) -> FeedSpec:
    """An article's comment feed, in the article's language."""
    lang = getattr(article, "lang", None) or str(settings.get("DEFAULT_LANG") or "de")
    _ = gettext_for(settings, lang)
    base = site_url(settings)
    # comments_flat is in (date, id) order: the newest first, at most the setting's count.
    count = int(settings.get("REPLIK_FEED_ARTICLE_COUNT") or 0)
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


def latest_pairs(articles: list[Any], settings: dict[str, Any]) -> list[tuple[Any, CommentNode]]:
    """The newest REPLIK_FEED_LATEST_COUNT (article, node) pairs across the site.

    Chosen from the articles' entries, so only the chosen few are rendered (an
    article's thread may have been released after its page was written).
    """
    count = int(settings["REPLIK_FEED_LATEST_COUNT"])
    locale = str(settings.get("DEFAULT_LANG") or "de")
    timezone = str(settings.get("TIMEZONE") or "UTC")
    candidates = ((a, e) for a in articles
                  for e in getattr(getattr(a, "replik_thread", None), "entries", ()))
    chosen = heapq.nlargest(count, candidates, key=lambda p: (p[1].date, p[1].id))
    return [(article, render_node(article.replik_thread.with_body(entry),
                                  getattr(article, "lang", locale) or locale, timezone))
            for article, entry in chosen]


def latest_spec(articles: list[Any], settings: dict[str, Any],
                pairs: list[tuple[Any, CommentNode]] | None = None) -> FeedSpec:
    _ = gettext_for(settings)
    base = site_url(settings)
    if pairs is None:
        pairs = latest_pairs(articles, settings)
    oldest = min((as_aware(a.date) for a in articles), default=datetime(2000, 1, 1, tzinfo=UTC))
    return make_spec(
        settings,
        _("Latest comments on %(site)s") % {"site": settings.get("SITENAME", "")},
        f"{base}/",
        (f"{base}/{settings['REPLIK_FEED_LATEST']}",
         f"{base}/{settings['REPLIK_FEED_LATEST_RSS']}"),
        pairs,
        oldest,
    )


class CommentFeeds:
    """The comment feeds of one build.

    An article's feeds are written right after its page (``write_article``, from the
    plugin's content_written receiver), while its thread is built anyway; ``finish``
    writes the feeds of articles whose page was not written and the site-wide feed.
    """

    def __init__(self, settings: dict[str, Any], output: Path) -> None:
        self.settings = settings
        self.output = os.fspath(output)
        self.done: set[int] = set()
        #: Articles (by id) whose feeds follow their page; the others wait for finish().
        self.eligible: set[int] = set()
        self.written: list[str] = []
        self.finished = False

    def write_article(self, article: Any) -> None:
        if id(article) in self.done or not hasattr(article, "comments_flat"):
            return
        self._write(article_spec(article, self.settings),
                    atom=article.comment_feed_atom, rss=article.comment_feed_rss)
        self.done.add(id(article))
        thread = getattr(article, "replik_thread", None)
        if thread is not None:
            thread.release()

    def _write(self, spec: FeedSpec, **paths: str) -> None:
        # Made anew every time: feedxml costs less than any cache lookup would (reading
        # a kept copy, hashing the inputs). atomic_write leaves unchanged files alone,
        # so a rebuild touches only the feeds that changed.
        data = render_feeds(spec)
        for fmt in FORMATS:
            target = f"{self.output}/{paths[fmt]}"
            atomic_write(target, data[fmt])
            self.written.append(target)

    def finish(self, articles: list[Any]) -> list[str]:
        for article in articles:
            self.write_article(article)
        self._write(latest_spec(articles, self.settings),
                    atom=self.settings["REPLIK_FEED_LATEST"],
                    rss=self.settings["REPLIK_FEED_LATEST_RSS"])
        self.finished = True
        return self.written


class CommentFeedGenerator:
    """A Pelican generator (via get_generators) that finishes the comment feeds."""

    def __init__(self, context: dict[str, Any], settings: dict[str, Any], path: str,
                 theme: str, output_path: str, *args: Any, **kwargs: Any) -> None:
        self.context = context
        self.settings = with_defaults(settings)
        self.output_path = Path(output_path)

    def generate_context(self) -> None:
        """Nothing to add: the articles carry their comments already."""

    def generate_output(self, writer: Any) -> None:
        feeds = self.context.get("replik_feeds")
        if not isinstance(feeds, CommentFeeds) or feeds.finished:
            feeds = CommentFeeds(self.settings, self.output_path)
        feeds.finish(feed_articles(self.context))
        # The build is done with its threads: what it read becomes the next one's cache.
        cache, _signatures = self.context.get("replik_thread_cache") or (None, None)
        if cache is not None:
            cache.finish()


def feed_articles(context: dict[str, Any]) -> list[Any]:
    """The articles with comment feeds: the published ones in the default language
    (a translation shares its original's slug, so it shares its feed path too)."""
    return list(context.get("articles", []))


def write_comment_feeds(articles: list[Any], settings: dict[str, Any], output: Path,
                        only: set[str] | None = None) -> list[str]:
    """Write the per-article feeds (all, or the slugs in ``only``) and the latest feed.

    A feed file whose bytes did not change is left as it is (its date too).
    """
    feeds = CommentFeeds(settings, output)
    for article in articles:
        if only is None or article.slug in only:
            feeds.write_article(article)
    feeds.done.update(id(a) for a in articles)  # the rest are up to date already
    return feeds.finish(articles)
