"""The build's writer side: every file lands whole (``atomic_write``), Pelican's writer
on it (all pages, or only those that show a changed article), the comment feeds,
``gone.map``."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from pelican.paginator import Paginator
from pelican.writers import Writer

from . import feedxml, gone
from .feeds import FeedSpec, article_spec, latest_spec
from .files import write_atomic
from .settings import Settings
from .store import read_bytes

log = logging.getLogger(__name__)


def atomic_write(path: str | os.PathLike[str], data: bytes) -> bool:
    """Replace ``path`` with ``data`` (files.write_atomic); skip it if unchanged."""
    try:
        if read_bytes(os.fspath(path)) == data:
            return False
    except OSError:
        pass
    write_atomic(path, data, durable=False)  # output: the next build writes it again
    return True


# -- Pelican's writer, atomic ------------------------------------------------------------
class _AtomicText:
    """A text file handle that lands on disk in one rename when closed."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.parts: list[bytes] = []

    def write(self, text: str | bytes) -> int:
        # Templates write text; feedgenerator writes encoded bytes.
        self.parts.append(text.encode("utf-8") if isinstance(text, str) else text)
        return len(text)

    def __enter__(self) -> _AtomicText:
        return self

    def __exit__(self, exc_type: Any, *_exc: Any) -> None:
        if exc_type is None:
            atomic_write(self.path, b"".join(self.parts))


class AtomicWriter(Writer):
    """Pelican's writer, but every file is replaced atomically (and kept if unchanged)."""

    def _open_w(self, filename: str, encoding: str, override: bool = False) -> Any:
        if filename == os.devnull:
            return open(os.devnull, "w", encoding=encoding)
        self._written_files.add(filename)
        return _AtomicText(filename)


class SelectiveWriter(AtomicWriter):
    """Writes only the pages that show one of ``changed`` (articles, by identity).

    The pagination loop mirrors ``Writer.write_file``'s, to leave out the pages whose
    content does not depend on the changed articles; each page that is written goes
    through Pelican's own ``write_file``, byte for byte what a full build writes.
    """

    def __init__(self, output_path: str, settings: dict[str, Any], changed: list[Any]) -> None:
        super().__init__(output_path, settings=settings)
        self.changed = {id(item) for item in changed}

    def _shows_change(self, items: Any) -> bool:
        return any(id(item) in self.changed for item in items or ())

    def write_feed(self, *args: Any, **kwargs: Any) -> None:
        """Post feeds show no comments: a decision never changes them."""

    def write_file(self, name: Any, template: Any, context: dict[str, Any],
                   relative_urls: bool = False, paginated: dict[str, Any] | None = None,
                   template_name: str | None = None, override_output: bool = False,
                   url: str | None = None, **kwargs: Any) -> None:
        if not name:
            return
        if "article" in kwargs:
            if id(kwargs["article"]) in self.changed:
                super().write_file(name, template, context, relative_urls, {}, **kwargs)
            return
        if paginated is None:
            paginated = {k: v for k, v in kwargs.items() if k in {"articles", "dates"}}
        listed = [item for seq in paginated.values() for item in seq]
        if not self._shows_change(listed) and listed:
            return
        if not (paginated and template_name in self.settings["PAGINATED_TEMPLATES"]):
            super().write_file(name, template, context, relative_urls, {}, **kwargs)
            return
        per_page = (self.settings["PAGINATED_TEMPLATES"][template_name]
                    or self.settings["DEFAULT_PAGINATION"])
        paginators = {key: Paginator(name, url, val, self.settings, per_page)
                      for key, val in paginated.items()}
        for page_num in range(next(iter(paginators.values())).num_pages):
            paginated_kwargs = kwargs.copy()
            shown: list[Any] = []
            for key, paginator in paginators.items():
                page = paginator.page(page_num + 1)
                shown.extend(page.object_list)
                paginated_kwargs.update({
                    f"{key}_paginator": paginator,
                    f"{key}_page": page,
                    f"{key}_previous_page": paginator.page(page_num) if page_num > 0 else None,
                    f"{key}_next_page": (paginator.page(page_num + 2)
                                         if page_num + 1 < paginator.num_pages else None),
                })
            if self._shows_change(shown):
                super().write_file(page.save_as, template, context, relative_urls, {},
                                   **paginated_kwargs)


# -- the comment feeds -------------------------------------------------------------------
class CommentFeeds:
    """The comment feeds of one build.

    An article's feeds are written right after its page (``write_article``, from
    ``page_written``), while its thread is built anyway; ``finish`` writes the feeds
    of articles whose page was not written and the site-wide feed.
    """

    def __init__(self, settings: Settings, output: Path) -> None:
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
        self._write(article_spec(article, self.settings), article.comment_feed_atom,
                    article.comment_feed_rss)
        self.done.add(id(article))
        thread = getattr(article, "replik_thread", None)
        if thread is not None:
            thread.release()

    def _write(self, spec: FeedSpec, *paths: str) -> None:
        # Made anew every time: feedxml costs less than any cache lookup would (reading
        # a kept copy, hashing the inputs). atomic_write leaves unchanged files alone
        # (their dates too), so a rebuild touches only the feeds that changed.
        for path, data in zip(paths, feedxml.render(spec), strict=True):
            atomic_write(target := f"{self.output}/{path}", data)
            self.written.append(target)

    def finish(self, articles: list[Any], only: set[str] | None = None) -> list[str]:
        """The feeds of ``articles`` not written yet (with ``only``: of those slugs
        alone, the others being up to date), then the site-wide feed."""
        for article in articles:
            if only is None or article.slug in only:
                self.write_article(article)
        self._write(latest_spec(articles, self.settings), self.settings.feed_latest,
                    self.settings.feed_latest_rss)
        self.finished = True
        return self.written


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


def post_feed_guids(_context: Any, feed: Any) -> None:
    """feed_generated: Pelican gives each post-feed entry a tag: URI as its id. RSS
    takes a <guid> for a permalink unless told otherwise, and a tag: URI is none
    (the W3C feed validator flags every such item)."""
    for item in getattr(feed, "items", ()):
        unique_id = str(item.get("unique_id") or "")
        if unique_id and not unique_id.lower().startswith(("http://", "https://")):
            item["unique_id_is_permalink"] = False


# -- gone.map --------------------------------------------------------------------------
def write_gone_map(generator: Any, writer: Any = None) -> None:
    """article_writer_finalized: write gone.map for the posts published before and not
    produced now."""
    settings = Settings.of(generator.settings)
    try:
        published = gone.published(settings)
    except (ValueError, OSError, sqlite3.Error) as exc:  # it must not fail the build
        log.warning("replik: the list of deleted posts is not updated: %s", exc)
        return
    produced = (list(generator.articles) + list(generator.translations)
                + list(generator.hidden_articles) + list(generator.hidden_translations))
    deleted = published - {str(a.url) for a in produced}
    atomic_write(Path(generator.output_path) / gone.FILENAME,
                 gone.render(deleted, gone.site_prefix(settings)))
    if deleted:
        log.info("replik: %d deleted post(s) answer 410 Gone (%s)", len(deleted), gone.FILENAME)
