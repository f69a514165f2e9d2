"""Comment feeds (Atom and RSS) built with feedgen: one per article and one site-wide."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedgen.feed import FeedGenerator

from .i18n import gettext_for
from .settings import with_defaults
from .thread import CommentNode

log = logging.getLogger(__name__)


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


def build_feed(
    settings: dict[str, Any],
    title: str,
    page_url: str,
    self_url: str,
    items: Iterable[tuple[Any, CommentNode]],
    fallback_updated: datetime,
) -> FeedGenerator:
    """A feed of comment nodes; ``items`` are (article, node) pairs, newest first."""
    _ = gettext_for(settings)
    feed = FeedGenerator()
    # RSS's <author> must be an email address, which we never publish: use dc:creator.
    feed.load_extension("dc", atom=False, rss=True)
    feed.id(self_url)
    feed.title(title)
    # RSS takes the channel link from the last link() added, so rel=self comes first.
    feed.link(href=self_url, rel="self")
    feed.link(href=page_url, rel="alternate")
    feed.description(_("Comments on %(site)s") % {"site": settings.get("SITENAME", "")})
    feed.language(str(settings.get("DEFAULT_LANG") or "de"))
    newest = fallback_updated
    base = site_url(settings)
    for article, node in items:
        entry = feed.add_entry(order="append")
        link = f"{base}/{article.url}#{node.anchor}"
        entry.id(link)
        entry.link(href=link)
        author = node.author or _("Anonymous")
        if node.is_linkback:
            entry.title(_("Linkback from %(source)s on %(title)s") % {
                "source": author, "title": article.title})
        else:
            entry.title(_("%(author)s on %(title)s") % {"author": author, "title": article.title})
        entry.author(name=author)
        entry.dc.dc_creator(author)
        entry.published(node.entry.date)
        entry.updated(node.entry.date)
        entry.content(str(node.html), type="html")
        newest = max(newest, node.entry.date)
    # Set from the newest entry so that builds are reproducible.
    feed.updated(newest)
    feed.lastBuildDate(newest)
    return feed


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


def article_feed(article: Any, settings: dict[str, Any], fmt: str) -> bytes:
    _ = gettext_for(settings)
    base = site_url(settings)
    path = article.comment_feed_atom if fmt == "atom" else article.comment_feed_rss
    nodes = sorted(article.comments_flat, key=lambda n: (n.entry.date, n.id), reverse=True)
    feed = build_feed(
        settings,
        _("Comments on %(title)s") % {"title": article.title},
        f"{base}/{article.url}",
        f"{base}/{path}",
        ((article, node) for node in nodes),
        _aware(article.date),
    )
    return feed.atom_str(pretty=True) if fmt == "atom" else feed.rss_str(pretty=True)


def latest_feed(articles: list[Any], settings: dict[str, Any], fmt: str) -> bytes:
    _ = gettext_for(settings)
    base = site_url(settings)
    pairs = [(a, n) for a in articles for n in getattr(a, "comments_flat", [])]
    pairs.sort(key=lambda p: (p[1].entry.date, p[1].id), reverse=True)
    pairs = pairs[: int(settings["REPLIK_FEED_LATEST_COUNT"])]
    path = settings["REPLIK_FEED_LATEST"] if fmt == "atom" else settings["REPLIK_FEED_LATEST_RSS"]
    oldest = min((_aware(a.date) for a in articles), default=datetime(2000, 1, 1, tzinfo=UTC))
    feed = build_feed(
        settings,
        _("Latest comments on %(site)s") % {"site": settings.get("SITENAME", "")},
        f"{base}/",
        f"{base}/{path}",
        pairs,
        oldest,
    )
    return feed.atom_str(pretty=True) if fmt == "atom" else feed.rss_str(pretty=True)


def write_comment_feeds(articles: list[Any], settings: dict[str, Any], output: Path,
                        only: set[str] | None = None) -> list[Path]:
    """Write the per-article feeds (all, or the slugs in ``only``) and the latest feed."""
    written: list[Path] = []
    for article in articles:
        if not hasattr(article, "comments_flat"):
            continue
        if only is not None and article.slug not in only:
            continue
        for fmt, path in (("atom", article.comment_feed_atom), ("rss", article.comment_feed_rss)):
            target = output / path
            atomic_write(target, article_feed(article, settings, fmt))
            written.append(target)
    for fmt, key in (("atom", "REPLIK_FEED_LATEST"), ("rss", "REPLIK_FEED_LATEST_RSS")):
        target = output / settings[key]
        atomic_write(target, latest_feed(articles, settings, fmt))
        written.append(target)
    return written
