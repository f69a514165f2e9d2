"""The blog's own articles and pages as Pelican sees them: slug, URL, title, date.

Read with Pelican's readers and the blog's settings, so slugs and URLs are the
ones the build produces (used to match Disqus threads and to export WXR).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)


@dataclass
class ArticleInfo:
    slug: str
    url: str  # relative to SITEURL, e.g. "2013/hello/"
    title: str
    date: datetime | None
    kind: str  # "article" or "page"


def _under(relative: str, folders: list[str]) -> bool:
    return any(f and (relative == f or relative.startswith(f.rstrip("/") + "/")) for f in folders)


def content_articles(settings: dict[str, Any]) -> list[ArticleInfo]:
    from pelican.contents import Article, Page
    from pelican.readers import Readers
    from pelican.settings import DEFAULT_CONFIG

    full = dict(DEFAULT_CONFIG)
    full.update(settings)
    base = Path(str(full["PATH"]))
    if not base.is_dir():
        return []
    readers = Readers(full)
    pages = list(full.get("PAGE_PATHS") or [])
    excluded = list(full.get("STATIC_PATHS") or []) + list(full.get("IGNORE_FILES") or [])
    found: list[ArticleInfo] = []
    for folder, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            relative = (Path(folder) / name).relative_to(base).as_posix()
            if _under(relative, excluded) or name.startswith("."):
                continue
            if name.rsplit(".", 1)[-1] not in readers.extensions:
                continue
            is_page = _under(relative, pages)
            try:
                content = readers.read_file(
                    base_path=str(base), path=relative,
                    content_class=Page if is_page else Article, context={},
                )
                found.append(ArticleInfo(
                    slug=content.slug, url=content.url, title=content.title,
                    date=getattr(content, "date", None),
                    kind="page" if is_page else "article",
                ))
            except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop us
                log.warning("replik: cannot read %s: %s", relative, exc)
    return found


def url_path(url: str) -> str:
    """A URL reduced to what identifies a post: the path, no index.html, no slashes."""
    path = unquote(urlsplit(url.strip()).path if "://" in url else url.strip())
    for suffix in ("index.html", "index.htm", "index.php"):
        if path.endswith("/" + suffix) or path == suffix:
            path = path[: -len(suffix)]
    return path.strip("/")


class ArticleMatcher:
    """Find our article for a URL or identifier from another comment system."""

    def __init__(self, articles: list[ArticleInfo], explicit: dict[str, str] | None = None):
        self.slugs = {a.slug for a in articles}
        self.by_path = {url_path(a.url): a.slug for a in articles}
        self.explicit = {url_path(k): v for k, v in (explicit or {}).items()}

    def match(self, url: str, identifier: str = "") -> str | None:
        path = url_path(url)
        if path in self.explicit:
            return self.explicit[path]
        if path in self.by_path:
            return self.by_path[path]
        if identifier and identifier in self.slugs:
            return identifier
        last = path.rsplit("/", 1)[-1]
        for suffix in (".html", ".htm", ".php"):
            last = last.removesuffix(suffix)
        if last in self.slugs:
            return last
        return None
