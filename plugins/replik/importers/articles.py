"""The blog's own articles and pages as Pelican sees them: slug, URL, title, date.

Read by Pelican's own generators with the blog's settings, so slugs and URLs are
the ones the build produces (used to match Disqus threads and to export WXR).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from ..articles import read_content
from ..settings import Settings


@dataclass
class ArticleInfo:
    slug: str
    url: str  # relative to SITEURL, e.g. "2013/hello/"
    title: str
    date: datetime | None
    kind: str  # "article" or "page"


def content_articles(settings: Settings) -> list[ArticleInfo]:
    """Every article and page, drafts and hidden ones too."""
    from pelican.generators import ArticlesGenerator, PagesGenerator
    from pelican.settings import DEFAULT_CONFIG

    articles, pages = read_content(Settings.from_mapping({**DEFAULT_CONFIG, **settings.pelican}),
                                   ArticlesGenerator, PagesGenerator)
    kinds = {"article": ("articles", "translations", "drafts", "drafts_translations",
                         "hidden_articles", "hidden_translations"),
             "page": ("pages", "translations", "hidden_pages", "hidden_translations",
                      "draft_pages", "draft_translations")}
    return [ArticleInfo(slug=c.slug, url=c.url, title=c.title, date=getattr(c, "date", None),
                        kind=kind)
            for kind, generator in (("article", articles), ("page", pages))
            for name in kinds[kind] for c in getattr(generator, name)]


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
