"""The build's generator side: approved entries onto Pelican's articles and pages.

After ``article_generator_finalized`` every article carries ``comments`` (top-level
nodes with ``children``), ``comments_flat`` (date order), ``comment_count``,
``comments_open``, ``comment_feed_atom`` and ``comment_feed_rss``, for any theme.
The entries come through the store contract (files or PostgreSQL alike). The two
lists build their thread on first use, and it is dropped once the article's page
and feeds are written (writers.page_written): a build holds every entry's fields,
but the texts and HTML of one thread at a time (or the thread cache's).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .articles import comments_open
from .render import as_aware, format_date_local
from .settings import Settings, cache_path
from .storespec import CommentStore, Entry, open_store
from .thread import LazyThread, ThreadView, shown_as_excerpt, shown_entries
from .thread_cache import ThreadCache
from .writers import CommentFeeds

log = logging.getLogger(__name__)


def commentable(generator: Any) -> list[Any]:
    """The articles that carry a thread (the full build's and the rebuild's)."""
    return (list(generator.articles) + list(generator.translations) + list(generator.drafts)
            + list(generator.hidden_articles))


def attach_comments(generator: Any) -> None:
    """article_generator_finalized: every article gets its thread."""
    if generator.context.get("replik_reading"):  # articles.read_content: no build
        return
    settings = Settings.of(generator.settings)
    store = open_store(settings)
    # What the last build kept of each thread, reused where the thread is unchanged
    # (REPLIK_CACHE = "" keeps nothing). Without the texts: each thread reads its own
    # while its page is written, so a build holds the text of one thread at a time.
    cache = (ThreadCache.load(cache_path(settings) / "threads")
             if settings.cache else None)
    grouped = (cache.read(store) if cache is not None
               else store.approved_by_article(public_only=True, bodies=False))
    # Pages are read after articles; they take their threads from the same reading.
    generator.context["replik_approved"] = (store, grouped, cache)
    articles = commentable(generator)
    generator.context["replik_article_slugs"] = {a.slug for a in articles}
    for article in articles:
        attach_thread(article, grouped.get(article.slug, []), settings, store, cache=cache)
    feeds = CommentFeeds(settings, generator.output_path)
    feeds.eligible = {id(a) for a in generator.articles}
    generator.context["replik_feeds"] = feeds
    generator.context["replik_thread_cache"] = cache


def attach_page_comments(generator: Any) -> None:
    """page_generator_finalized: pages show their threads (imported from WordPress, say),
    read-only, since the comment form is for articles; then report entries that belong
    to neither an article nor a page."""
    if generator.context.get("replik_reading"):
        return
    settings = Settings.of(generator.settings)
    # Every thread has its entries after this; the reading itself is no longer needed.
    found = generator.context.pop("replik_approved", None)
    if found is None:
        store = open_store(settings)
        found = (store, store.approved_by_article(public_only=True, bodies=False), None)
    store, grouped, cache = found
    pages = list(generator.pages) + list(generator.hidden_pages)
    for page in pages:
        if grouped.get(page.slug):
            attach_thread(page, grouped[page.slug], settings, store, open_for_comments=False,
                          cache=cache)
    known = {p.slug for p in pages} | set(generator.context.get("replik_article_slugs", ()))
    for slug, entries in grouped.items():
        if slug not in known:
            log.warning(
                "replik: %s holds %d approved entries for an unknown article %r; they are"
                " not shown", store.location, len(entries), slug,
            )


def attach_thread(article: Any, entries: list[Entry], settings: Settings,
                  store: CommentStore, open_for_comments: bool | None = None,
                  read_texts: bool = True, cache: ThreadCache | None = None) -> None:
    """Give one article its thread, counts, open/closed state and feed paths.

    ``read_texts``: the entries were read without their texts
    (``approved_by_article(bodies=False)``); the thread reads them from ``store``
    whenever it is built. ``cache``: the build's thread cache (thread_cache.py).
    """
    locale = settings.lang
    lang = getattr(article, "lang", locale) or locale
    origin = f"{store.location}: {article.slug}/"
    # Replies wait (unseen, uncounted, not in feeds) while what they answer is not shown.
    entries = shown_entries(entries, origin=origin)
    thread = LazyThread(
        entries, settings.max_depth, lang, settings.timezone,
        origin=origin, store=store if read_texts else None,
        cache=cache if read_texts else None, slug=article.slug,
    )
    article.replik_thread = thread
    article.comments = ThreadView(thread, flat=False)
    article.comments_flat = ThreadView(thread, flat=True)
    article.comment_count = len(entries)
    # A webmention reply is a comment; other linkbacks show as excerpts.
    article.reply_count = sum(1 for e in entries if not shown_as_excerpt(e))
    article.linkback_count = len(entries) - article.reply_count
    article.comments_open = (comments_open(article, settings) if open_for_comments is None
                             else open_for_comments)
    # Comment feeds are written for published posts only: drafts and hidden ones link to none.
    listed = getattr(article, "status", "published") == "published"
    article.comment_feed_atom = settings.feed_article.format(slug=article.slug) if listed else ""
    article.comment_feed_rss = settings.feed_article_rss.format(slug=article.slug) if listed else ""
    if settings.babel_dates and getattr(article, "date", None):
        # Post dates in the same words as comment dates ("5. März 2010"), without
        # depending on the machine's installed C locales as strftime does.
        timezone = settings.timezone
        article.locale_date = format_date_local(as_aware(article.date), lang, timezone)
        if getattr(article, "modified", None):
            article.locale_modified = format_date_local(as_aware(article.modified), lang, timezone)


class CommentFeedGenerator:
    """A Pelican generator (via get_generators) that finishes the comment feeds: those
    of articles whose page was not written, and the site-wide feed."""

    def __init__(self, context: dict[str, Any], settings: dict[str, Any], path: str,
                 theme: str, output_path: str, *args: Any, **kwargs: Any) -> None:
        self.context = context
        self.settings = Settings.of(settings)
        self.output_path = Path(output_path)

    def generate_output(self, writer: Any) -> None:
        feeds = self.context.get("replik_feeds")
        if not isinstance(feeds, CommentFeeds) or feeds.finished:
            feeds = CommentFeeds(self.settings, self.output_path)
        # The published articles in the default language (a translation shares its
        # original's slug, so it shares its feed path too).
        feeds.finish(list(self.context.get("articles", [])))
        # The build is done with its threads: what it read becomes the next one's cache.
        cache = self.context.get("replik_thread_cache")
        if cache is not None:
            cache.finish()
