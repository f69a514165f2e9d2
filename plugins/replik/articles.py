"""The blog's articles as the rest of Replik sees them.

``comments_open`` decides whether an article takes comments (the build shows the
form by it, the intake and the linkback endpoints refuse by it). ``read_content``
runs Pelican's own generators over ``content/`` without writing anything, so
slugs and URLs are the ones the build makes. ``ArticleIndex`` keeps what a
server needs of every article, read again when ``content/`` changes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import heap
from .fingerprint import tree_fingerprint
from .render import as_aware
from .settings import Settings

log = logging.getLogger(__name__)


def comments_open(article: Any, settings: Settings, now: datetime | None = None) -> bool:
    """Closed by ``Comments: closed`` metadata, or by age (REPLIK_CLOSE_AFTER_DAYS)."""
    flag = str(article.metadata.get("comments", "open")).strip().lower()
    if flag in ("closed", "off", "no", "false"):
        return False
    days = settings.close_after_days
    return not (days > 0
                and (now or datetime.now(UTC)) - as_aware(article.date) > timedelta(days=days))


def generator_args(settings: Settings) -> dict[str, Any]:
    """What Pelican.run gives each generator: the settings, and one context shared by all."""
    context: dict[str, Any] = dict(settings.pelican)
    context.update(generated_content={}, static_links=set(), static_content={},
                   localsiteurl=settings.siteurl)
    return dict(context=context, settings=settings.pelican, path=settings.path,
                theme=settings.theme, output_path=settings.output_path)


def read_content(settings: Settings, *kinds: type) -> list[Any]:
    """Pelican generators of the given classes, their context generated (no output).

    Marked as a reading: once a build in this process (the desk's) has registered
    the plugin, its receivers would otherwise attach every thread here too.
    """
    args = generator_args(settings)
    args["context"]["replik_reading"] = True
    generators = [kind(**args) for kind in kinds]
    for generator in generators:
        generator.generate_context()
    return generators


@dataclass(frozen=True)
class ArticleInfo:
    slug: str
    title: str
    url: str
    permalink: str
    date: datetime
    modified: datetime | None
    open: bool
    lang: str


class ArticleIndex:
    """Article slugs, titles, URLs and whether comments are open, read from ``content/``.

    Pelican's own generators read the content once (no output is written); the index
    is read again when a file under ``content/`` changes (checked every
    REPLIK_CONTENT_POLL seconds).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._signature: tuple[int, int] | None = None
        self._checked = 0.0
        self._busy = False
        self.articles: dict[str, ArticleInfo] = {}
        self.pages: list[Any] = []
        self.refresh()

    def refresh(self, force: bool = True) -> None:
        """Read the articles again if ``content/`` changed (always when ``force``).

        One thread reads while the others keep answering from the last index.
        """
        now = time.monotonic()
        first = self._signature is None  # at start: create_app() settles the heap after
        with self._lock:
            if not force and (self._busy or now - self._checked < self.settings.content_poll):
                return
            self._checked, self._busy = now, True
        try:
            signature = tree_fingerprint(self.settings.path)
            if signature == self._signature and not force:
                return
            articles, page_list = self._read()
            with self._lock:
                self.articles, self.pages, self._signature = articles, page_list, signature
            if not first:
                heap.settle()  # the new index lives on; the old one goes now
        except Exception as exc:  # noqa: BLE001 - keep serving the last good index
            log.error("replik: cannot read the articles under %s: %s",
                      self.settings.path, exc)
        finally:
            with self._lock:
                self._busy = False

    def _read(self) -> tuple[dict[str, ArticleInfo], list[Any]]:
        from pelican.generators import ArticlesGenerator, PagesGenerator

        settings = self.settings
        generator, page_generator = read_content(settings, ArticlesGenerator, PagesGenerator)
        base = settings.siteurl.rstrip("/")
        found: dict[str, ArticleInfo] = {}
        # Translations share their original's slug; the original wins.
        hidden = list(generator.hidden_articles) + list(generator.hidden_translations)
        for article in hidden + list(generator.translations) + list(generator.articles):
            found[article.slug] = ArticleInfo(
                slug=article.slug, title=str(article.title), url=article.url,
                permalink=f"{base}/{article.url}", date=as_aware(article.date),
                modified=getattr(article, "modified", None),
                open=comments_open(article, settings),
                lang=getattr(article, "lang", "") or settings.lang,
            )
        return found, list(page_generator.pages)

    def get(self, slug: str) -> ArticleInfo | None:
        self.refresh(force=False)
        return self.articles.get(slug)
