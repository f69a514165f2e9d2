"""The Pelican plugin: approved entries onto articles, and the comment feeds.

After ``article_generator_finalized`` every article carries:
``comments`` (top-level nodes with ``children``), ``comments_flat`` (date order),
``comment_count``, ``comments_open``, ``comment_feed_atom`` and ``comment_feed_rss``.
Any theme can use them.

At first only the names of each article's entry files are known (one listing per
folder). A thread's files are read, once, just before its page is written
(``article_generator_write_article``), which also makes its counts exact; the two
lists build the thread (rendered, arranged) on first use; once the page and its
comment feeds are written (``content_written``) the thread is dropped again. A
build holds the entries, texts and HTML of one thread at a time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pelican import signals

from . import i18n, thread_markup
from .feeds import CommentFeedGenerator, CommentFeeds
from .render import as_aware, format_date_local
from .settings import store_path, with_defaults
from .store import Entry, Store
from .thread import LazyThread, ThreadView, set_counts

log = logging.getLogger(__name__)


def comments_open(article: Any, settings: dict[str, Any], now: datetime | None = None) -> bool:
    """Closed by ``Comments: closed`` metadata, or by age (REPLIK_CLOSE_AFTER_DAYS)."""
    flag = str(article.metadata.get("comments", "open")).strip().lower()
    if flag in ("closed", "off", "no", "false"):
        return False
    days = int(settings.get("REPLIK_CLOSE_AFTER_DAYS") or 0)
    if days > 0:
        published = article.date
        if published.tzinfo is None:
            published = published.replace(tzinfo=UTC)
        if (now or datetime.now(UTC)) - published > timedelta(days=days):
            return False
    return True


def initialized(pelican: Any) -> None:
    merged = with_defaults(pelican.settings)
    pelican.settings.clear()
    pelican.settings.update(merged)


def attach_comments(generator: Any) -> None:
    """article_generator_finalized: every article gets its thread (not read yet)."""
    settings = with_defaults(generator.settings)
    store = Store(store_path(settings))
    names = store.approved_names()
    # Pages are read after articles; they take their threads from the same listing.
    generator.context["replik_approved"] = names
    articles = list(generator.articles) + list(getattr(generator, "translations", []))
    articles += list(getattr(generator, "drafts", []))
    articles += list(getattr(generator, "hidden_articles", []))
    generator.context["replik_article_slugs"] = {a.slug for a in articles}
    for article in articles:
        attach_thread(article, None, settings, store.root, names=names.get(article.slug, []))
    feeds = CommentFeeds(settings, generator.output_path)
    feeds.eligible = {id(a) for a in generator.articles}
    generator.context["replik_feeds"] = feeds


def read_before_writing(generator: Any, content: Any) -> None:
    """article_generator_write_article, page_generator_write_page: read the thread
    (its counts exact) before the page shows them."""
    thread = getattr(content, "replik_thread", None)
    if isinstance(thread, LazyThread):
        thread.read()


def page_written(path: str, context: dict[str, Any]) -> None:
    """content_written: an article's feeds follow its page; then its thread is dropped."""
    content = context.get("article") or context.get("page")
    thread = getattr(content, "replik_thread", None)
    if thread is None:
        return
    feeds = context.get("replik_feeds")
    if (isinstance(feeds, CommentFeeds) and not feeds.finished
            and context.get("article") is content and id(content) in feeds.eligible):
        feeds.write_article(content)
    thread.release()


def attach_page_comments(generator: Any) -> None:
    """page_generator_finalized: pages show their threads (imported from WordPress, say),
    read-only, since the comment form is for articles; then report entries that belong
    to neither an article nor a page."""
    settings = with_defaults(generator.settings)
    names = generator.context.get("replik_approved")
    store = Store(store_path(settings))
    if names is None:
        names = store.approved_names()
    pages = list(generator.pages) + list(getattr(generator, "hidden_pages", []))
    for page in pages:
        if names.get(page.slug):
            attach_thread(page, None, settings, store.root, open_for_comments=False,
                          names=names[page.slug])
    # Every thread has its files now; the listing itself is no longer needed.
    generator.context.pop("replik_approved", None)
    known = {p.slug for p in pages} | set(generator.context.get("replik_article_slugs", ()))
    for slug, files in names.items():
        if slug not in known:
            log.warning(
                "replik: %s holds %d approved entries for an unknown article %r; they are"
                " not shown", store.root / "approved" / slug, len(files), slug,
            )


def attach_thread(article: Any, entries: list[Entry] | None, settings: dict[str, Any],
                  store_root: Any, open_for_comments: bool | None = None,
                  names: list[str] | None = None) -> None:
    """Give one article its thread, counts, open/closed state and feed paths.

    Either ``entries`` (read already, with their texts), or the ``names`` of its
    files in the store, read when the thread is first needed.
    """
    locale = str(settings.get("DEFAULT_LANG") or "de")
    lang = getattr(article, "lang", locale) or locale
    folder = f"{store_root}/approved/{article.slug}"
    if entries is None:
        # Until the files are read (before the page is written), count the files.
        set_counts(article, len(names or ()), len(names or ()))
    thread = LazyThread(
        entries, int(settings["REPLIK_MAX_DEPTH"]), lang, str(settings.get("TIMEZONE") or "UTC"),
        origin=f"{folder}/", folder=folder, names=None if entries is not None else names,
        owner=article,
    )
    article.replik_thread = thread
    article.comments = ThreadView(thread, flat=False)
    article.comments_flat = ThreadView(thread, flat=True)
    article.comments_open = (comments_open(article, settings) if open_for_comments is None
                             else open_for_comments)
    article.comment_feed_atom = settings["REPLIK_FEED_ARTICLE"].format(slug=article.slug)
    article.comment_feed_rss = settings["REPLIK_FEED_ARTICLE_RSS"].format(slug=article.slug)
    if settings.get("REPLIK_BABEL_DATES", True) and getattr(article, "date", None):
        # Post dates in the same words as comment dates ("5. März 2010"), without
        # depending on the machine's installed C locales as strftime does.
        timezone = str(settings.get("TIMEZONE") or "UTC")
        article.locale_date = format_date_local(as_aware(article.date), lang, timezone)
        if getattr(article, "modified", None):
            article.locale_modified = format_date_local(as_aware(article.modified), lang, timezone)


def offer_thread_markup(generator: Any) -> None:
    """generator_init: the templates may draw threads with thread_markup, when it
    writes exactly what they would (the shipped partials, the shipped settings)."""
    env = getattr(generator, "env", None)
    if env is not None and thread_markup.matches_theme(env):
        env.globals["replik_comment_items"] = thread_markup.comment_items


def get_generators(_pelican: Any) -> type:
    return CommentFeedGenerator


def register() -> None:
    signals.initialized.connect(initialized)
    signals.generator_init.connect(i18n.install_translations)
    signals.generator_init.connect(offer_thread_markup)
    signals.article_generator_finalized.connect(attach_comments)
    signals.page_generator_finalized.connect(attach_page_comments)
    signals.get_generators.connect(get_generators)
    signals.content_written.connect(page_written)
    signals.article_generator_write_article.connect(read_before_writing)
    signals.page_generator_write_page.connect(read_before_writing)
