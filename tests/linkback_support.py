"""Helpers for the linkback tests: a blog of their own, a live app and source sites on loopback.

The blog uses the project's pelicanconf.py (the shipped theme) with its own content,
store and output in ``tmp_path``; its server runs on 127.0.0.1. Linking pages
("other blogs") are served on ``localhost``, the only host the blog may fetch from
(REPLIK_FETCH_ALLOW_PRIVATE). This module holds no tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import akismet
from liveserver import Holder, live_server, wait_for
from sitebuilder import blog_paths, build_site, write_posts, write_project_conf
from werkzeug.wrappers import Request, Response

from replik.settings import Settings, load_settings
from replik.store import Entry, Store

# -- the other blogs ------------------------------------------------------------------


@dataclass
class Page:
    body: str
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class SourceSite:
    """Other blogs: pages by path, every request recorded. Served as http://localhost:PORT."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.hits: list[Request] = []
        self.base = ""

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        request.get_data()
        self.hits.append(request)
        handler = self.pages.get(request.path)
        if handler is None:
            response = Response("not found", status=404, content_type="text/plain")
        elif callable(getattr(handler, "respond", None)):
            response = handler.respond(request)
        else:
            response = Response(handler.body, status=handler.status,
                                content_type=handler.content_type, headers=handler.headers)
        return response(environ, start_response)

    def add(self, path: str, body: str, **kwargs: Any) -> str:
        self.pages[path] = Page(body, **kwargs)
        return self.base + path

    def hits_to(self, path: str) -> list[Request]:
        return [h for h in self.hits if h.path == path]


@contextmanager
def source_site() -> Iterator[SourceSite]:
    site = SourceSite()
    with live_server(site, name="localhost") as (base, _holder):
        site.base = base
        yield site


def plain_post(target: str, before: str = "", after: str = "", title: str = "Ein Blog") -> str:
    before = before or ("Heute habe ich lange über die Frage nachgedacht, wie Unternehmen mit"
                        " ihrer Kundschaft sprechen sollten, und dabei diesen Beitrag gelesen:")
    after = after or ("Er zeigt sehr schön, warum Antworten schneller kommen müssen. Mehr dazu"
                      " morgen, wenn ich die Zahlen aus unserem eigenen Team habe.")
    return f"""<!doctype html><html><head><title>{title}</title>
<meta property="og:site_name" content="Annas Notizen">
<script>var tracking = "{target}";</script></head><body>
<nav><a href="/">Start</a></nav>
<article><h1>{title}</h1><p>{before} <a href="{target}">die <b>offene</b> Debatte</a>
{after}</p></article></body></html>"""


def h_entry(kind: str, target: str, *, author: str = "Anna Beispiel", photo: str = "",
            name: str = "", content: str = "", permalink: str = "") -> str:
    prop = {"reply": "u-in-reply-to", "like": "u-like-of", "repost": "u-repost-of",
            "mention": ""}[kind]
    link = (f'<a class="{prop}" href="{target}">{target}</a>' if prop
            else "")
    photo_html = f'<img class="u-photo" src="{photo}" alt="">' if photo else ""
    text = content or (f'Ich finde <a href="{target}">diesen Beitrag</a> wichtig.'
                       if kind == "mention" else "")
    name_html = f'<h1 class="p-name">{name}</h1>' if name else ""
    return f"""<!doctype html><html><head><title>{name or 'Notiz'}</title></head><body>
<article class="h-entry">{name_html}
<p class="p-author h-card">{photo_html}<a class="p-name u-url" href="/">{author}</a></p>
{link}<div class="e-content">{text}</div>
<a class="u-url" href="{permalink}">Permalink</a></article></body></html>"""


# -- our blog -------------------------------------------------------------------------------


def write_content(site: Path) -> None:
    write_posts(site)
    pages = site / "content" / "pages"
    pages.mkdir(parents=True, exist_ok=True)
    (pages / "impressum.md").write_text(
        "Title: Impressum\nSlug: impressum\n\nWer wir sind.\n", encoding="utf-8")


def write_conf(site: Path, siteurl: str, **overrides: Any) -> Path:
    """A pelicanconf.py for the test blog: the project's, pointed at ``site``."""
    write_content(site)
    values = {
        **blog_paths(site, siteurl),
        "ARTICLE_URL": "{slug}/",
        "ARTICLE_SAVE_AS": "{slug}/index.html",
        "DELETE_OUTPUT_DIRECTORY": False,
        "REPLIK_FETCH_ALLOW_PRIVATE": ["localhost"],
        "REPLIK_FETCH_TIMEOUT": 3.0,
        "REPLIK_LINKBACK_PER_MINUTE": 100,
        "REPLIK_AKISMET_CLIENT": "",
        "REPLIK_NOTIFY_EMAILS": [],
        "REPLIK_WEBHOOK_URL": "",
    }
    return write_project_conf(site, **{**values, **overrides})


def make_settings(site: Path, siteurl: str, **overrides: Any) -> Settings:
    return load_settings(write_conf(site, siteurl, **overrides))


@dataclass
class Blog:
    base: str
    settings: Settings
    holder: Holder

    @property
    def store(self) -> Store:
        return Store(self.settings.store)

    def permalink(self, slug: str) -> str:
        return f"{self.base}/{slug}/"

    def url(self, setting: str) -> str:
        return self.base + self.settings.pelican[setting]

    def entries(self, state: str = "pending") -> list[Entry]:
        return list(self.store.entries(state))

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        return wait_for(predicate, timeout=timeout)


@contextmanager
def running_blog(site: Path, *, build: bool = False, **overrides: Any) -> Iterator[Blog]:
    """Our blog on loopback: the app (all blueprints) plus the built site, like ``replik serve``."""
    from replik.cli.server import build_local_app

    with live_server() as (base, holder):
        settings = make_settings(site, base, **overrides)
        if build:
            build_site(settings)
        (site / "output").mkdir(exist_ok=True)
        holder.app = build_local_app(settings)
        yield Blog(base, settings, holder)


class SpamClient(akismet.TestSyncClient):
    """Akismet's own test client, answering "spam" (REPLIK_AKISMET_CLIENT)."""

    comment_check_response = akismet.CheckResponse.SPAM
