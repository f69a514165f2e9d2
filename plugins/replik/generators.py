"""The build's generator side: approved entries onto Pelican's articles and pages.

After ``article_generator_finalized`` every article carries:
``comments`` (top-level nodes with ``children``), ``comments_flat`` (date order),
``comment_count``, ``comments_open``, ``comment_feed_atom`` and ``comment_feed_rss``.
Any theme can use them.

The two lists build their thread (texts read from the store, rendered, arranged)
on first use, and the thread is dropped again once the article's page and comment
feeds are written (writers.page_written): a build keeps every comment's metadata,
but the text and HTML of only one thread at a time. With the thread cache
(thread_cache.py, in REPLIK_CACHE) the texts are rendered as the store is read
and the HTML is read back from the cache instead. The approve-to-live rebuild
(rebuild.py) attaches the changed articles' threads with the same ``attach_thread``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import thread_markup
from .articles import comments_open
from .render import as_aware, format_date_local
from .settings import Settings, cache_path, store_path
from .store import Entry, Store
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
    store = Store(store_path(settings))
    # What the last build kept of each thread, reused where the files are unchanged
    # (REPLIK_CACHE = "" keeps nothing).
    cache = (ThreadCache.load(cache_path(settings) / "threads")
             if settings.cache else None)
    signatures: dict[str, Any] = {}
    # Without the texts: each thread reads its own while its page is written, so a
    # build holds the text of one thread at a time.
    # With a cache, a folder read from its files has its texts rendered at once and
    # kept there; its page reads the HTML back instead of reading the files again.
    grouped = store.approved_by_article(
        public_only=True, bodies=False, reuse=cache,
        signatures=signatures if cache is not None else None,
        visit=cache.keep_read if cache is not None else None)
    # Pages are read after articles; they take their threads from the same reading.
    generator.context["replik_approved"] = grouped
    generator.context["replik_thread_cache"] = (cache, signatures)
    articles = commentable(generator)
    generator.context["replik_article_slugs"] = {a.slug for a in articles}
    for article in articles:
        attach_thread(article, grouped.get(article.slug, []), settings, store.root,
                      read_texts=True, cache=cache, signature=signatures.get(article.slug))
    feeds = CommentFeeds(settings, generator.output_path)
    feeds.eligible = {id(a) for a in generator.articles}
    generator.context["replik_feeds"] = feeds


def attach_page_comments(generator: Any) -> None:
    """page_generator_finalized: pages show their threads (imported from WordPress, say),
    read-only, since the comment form is for articles; then report entries that belong
    to neither an article nor a page."""
    if generator.context.get("replik_reading"):
        return
    settings = Settings.of(generator.settings)
    grouped = generator.context.get("replik_approved")
    cache, signatures = generator.context.get("replik_thread_cache") or (None, {})
    store = Store(store_path(settings))
    if grouped is None:
        grouped = store.approved_by_article(public_only=True, bodies=False)
    pages = list(generator.pages) + list(generator.hidden_pages)
    for page in pages:
        if grouped.get(page.slug):
            attach_thread(page, grouped[page.slug], settings, store.root,
                          open_for_comments=False, read_texts=True, cache=cache,
                          signature=signatures.get(page.slug))
    # Every thread has its entries now; the reading itself is no longer needed.
    generator.context.pop("replik_approved", None)
    known = {p.slug for p in pages} | set(generator.context.get("replik_article_slugs", ()))
    for slug, entries in grouped.items():
        if slug not in known:
            log.warning(
                "replik: %s holds %d approved entries for an unknown article %r; they are"
                " not shown", store.root / "approved" / slug, len(entries), slug,
            )


def attach_thread(article: Any, entries: list[Entry], settings: Settings,
                  store_root: Any, open_for_comments: bool | None = None,
                  read_texts: bool = False, cache: ThreadCache | None = None,
                  signature: Any = None) -> None:
    """Give one article its thread, counts, open/closed state and feed paths.

    ``read_texts``: the entries were read without their texts
    (``approved_by_article(bodies=False)``); the thread reads them from the store
    whenever it is built. ``cache``: the build's thread cache, with the signature of
    the thread's folder (see thread_cache.py).
    """
    locale = settings.lang
    lang = getattr(article, "lang", locale) or locale
    folder = f"{store_root}/approved/{article.slug}"
    # Replies wait (unseen, uncounted, not in feeds) while what they answer is not shown.
    entries = shown_entries(entries, origin=f"{folder}/")
    thread = LazyThread(
        entries, settings.max_depth, lang, settings.timezone,
        origin=f"{folder}/", folder=folder if read_texts else "",
        cache=cache if read_texts else None, slug=article.slug, signature=signature,
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
    article.comment_feed_atom = settings.feed_article.format(slug=article.slug)
    article.comment_feed_rss = settings.feed_article_rss.format(slug=article.slug)
    if settings.babel_dates and getattr(article, "date", None):
        # Post dates in the same words as comment dates ("5. März 2010"), without
        # depending on the machine's installed C locales as strftime does.
        timezone = settings.timezone
        article.locale_date = format_date_local(as_aware(article.date), lang, timezone)
        if getattr(article, "modified", None):
            article.locale_modified = format_date_local(as_aware(article.modified), lang, timezone)


def offer_thread_markup(generator: Any) -> None:
    """generator_init: the templates may draw threads with thread_markup, when it
    writes exactly what they would (the shipped partials, the shipped settings)."""
    env = getattr(generator, "env", None)
    if env is not None and thread_markup.matches_theme(env):
        env.globals["replik_comment_items"] = thread_markup.comment_items


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
        cache, _signatures = self.context.get("replik_thread_cache") or (None, None)
        if cache is not None:
            cache.finish()
