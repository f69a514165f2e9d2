"""A small blog of its own for the desk, report and rebuild tests (helpers, no tests)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sitebuilder import write_conf

from replik.settings import Settings, load_settings
from replik.store import Entry, Store, new_id

INDEX = """{% extends "!simple/base.html" %}
{% block content %}
{% for article in articles_page.object_list %}
<article><h2><a href="{{ SITEURL }}/{{ article.url }}">{{ article.title }}</a></h2>
<p class="count">{{ article.comment_count }} comments</p></article>
{% endfor %}
{% if articles_page.has_other_pages() %}{% include 'pagination.html' %}{% endif %}
{% endblock %}
"""

# Pelican does not autoescape: comment data is escaped explicitly, links only http(s).
ARTICLE = """{% extends "!simple/base.html" %}
{% macro show(node) %}{% autoescape true %}
{% set link_ok = node.url[:7]|lower == "http://" or node.url[:8]|lower == "https://" %}
<li id="{{ node.anchor }}" class="{{ 'staff' if node.staff else 'reader' }}">
<p class="author">{% if link_ok %}<a href="{{ node.url }}" rel="nofollow ugc">{{ node.author }}</a>
{% else %}{{ node.author }}{% endif %}{% if node.staff %} (Team){% endif %}</p>
<div class="body">{{ node.html }}</div><p class="date">{{ node.date_text }}</p>
{% if node.children %}<ol>{% for child in node.children %}{{ show(child) }}{% endfor %}</ol>
{% endif %}
</li>
{% endautoescape %}{% endmacro %}
{% block content %}
<article><h1>{{ article.title }}</h1>{{ article.content }}
<section id="comments"><h2>{{ article.comment_count }} comments</h2>
<ol>{% for node in article.comments %}{{ show(node) }}{% endfor %}</ol>
<a href="{{ SITEURL }}/{{ article.comment_feed_atom }}">feed</a></section></article>
{% endblock %}
"""

# The desk's blog: pages of three posts, dated addresses, site and category feeds.
CONF = {
    "AUTHOR": "Redaktion",
    "SITEURL": "http://127.0.0.1:8000",
    "FEED_DOMAIN": "http://127.0.0.1:8000",
    "RELATIVE_URLS": False,
    "DEFAULT_PAGINATION": 3,
    "ARTICLE_URL": "{date:%Y}/{slug}/",
    "ARTICLE_SAVE_AS": "{date:%Y}/{slug}/index.html",
    "FEED_ALL_ATOM": "feeds/all.atom.xml",
    "CATEGORY_FEED_ATOM": "feeds/category/{slug}.atom.xml",
    "REPLIK_STORE": "comments",
}

BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


PROJECT_THEME = Path(__file__).resolve().parents[1] / "theme"


def make_site(root: Path, posts: int = 8, moderators: dict | None = None,
              hook: str = "", theme: Path | None = None) -> Path:
    """Write content, a minimal theme and pelicanconf.py under ``root``; return the conf."""
    (root / "content").mkdir(parents=True, exist_ok=True)
    for number in range(posts):
        date = BASE - timedelta(days=posts - number)
        (root / "content" / f"post-{number}.md").write_text(
            f"Title: Beitrag {number}\nDate: {date:%Y-%m-%d %H:%M}\n"
            f"Category: {'Alpha' if number % 2 else 'Beta'}\nTags: t{number % 3}, all\n"
            f"Slug: post-{number}\n\nText des Beitrags {number}.\n",
            encoding="utf-8",
        )
    templates = root / "theme" / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (templates / "index.html").write_text(INDEX, encoding="utf-8")
    (templates / "article.html").write_text(ARTICLE, encoding="utf-8")
    # theme: the project's own instead of the minimal one
    conf = write_conf(root, theme, **CONF, REPLIK_MODERATORS=moderators or {},
                      REPLIK_PUBLISH_HOOK=hook)
    Store(root / "comments").ensure()
    return conf


def settings_for(conf: Path) -> Settings:
    return load_settings(conf)


def add_entry(store: Store, article: str, state: str = "pending", *, when: datetime,
              author: str = "Leser", body: str = "Ein Kommentar.", **fields) -> Entry:
    entry = Entry(id=new_id(when), article=article, body=body, date=when, author=author,
                  **fields)
    return store.add(entry, state)


def random_entries(store: Store, rng: random.Random, count: int, posts: int) -> list[Entry]:
    made = []
    for number in range(count):
        when = BASE + timedelta(minutes=number * 7 + rng.randint(0, 5))
        made.append(add_entry(store, f"post-{rng.randrange(posts)}", when=when,
                              author=f"Leser {number}", body=f"Kommentar **{number}**",
                              email=f"r{number}@example.org"))
    return made


# -- a real server on loopback ------------------------------------------------------
PASSWORD = "korrekt-Pferd-Batterie"


class Served:
    """The Flask app (desk + intake) and the built site, on one loopback port."""

    def __init__(self, root: Path, posts: int = 8, theme: Path | None = None,
                 **overrides) -> None:
        import threading

        from werkzeug.serving import make_server

        from replik.server.app import create_app

        self.root = root
        self.conf = make_site(root, posts=posts, moderators={"anna": "REPLIK_TEST_HASH_ANNA"},
                              theme=theme)
        self.settings = settings_for(self.conf)
        self._app = None

        def dispatch(environ, start_response):
            return self._app(environ, start_response)

        self.server = make_server("127.0.0.1", 0, dispatch, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.settings = self.settings.replace(SITEURL=self.url, FEED_DOMAIN=self.url,
                                              REPLIK_REBUILD_DEBOUNCE=0.02, **overrides)
        self.app = create_app(settings=self.settings)
        self._app = static_site(Path(self.settings.output_path), self.app)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.store = Store(root / "comments")

    def wait_built(self, timeout: float = 30) -> None:
        import time

        import httpx

        from replik.rebuild import read_status

        httpx.get(f"{self.url}{self.settings.desk_path}/login", timeout=10)  # starts the build
        deadline = time.time() + timeout
        while not read_status(self.settings).get("ok_finished"):
            if time.time() > deadline:
                raise AssertionError(f"no build: {read_status(self.settings)}")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        worker = self.app.extensions.get("replik_rebuilder")
        if worker is not None:
            worker.stop()


def static_site(output: Path, app):
    """Serve the built site's files; everything else goes to the app."""
    import mimetypes

    def serve(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if not path.startswith(("/moderate", "/replik")):
            target = (output / path.lstrip("/")).resolve()
            if target.is_dir():
                target = target / "index.html"
            if target.is_file() and target.is_relative_to(output.resolve()):
                kind = mimetypes.guess_type(str(target))[0] or "application/octet-stream"
                start_response("200 OK", [("Content-Type", kind)])
                return [target.read_bytes()]
        return app(environ, start_response)

    return serve


def hash_env(monkeypatch) -> None:
    from replik.server.auth import make_hash

    monkeypatch.setenv("REPLIK_TEST_HASH_ANNA", make_hash(PASSWORD))
    monkeypatch.setenv("REPLIK_SECRET_KEY", "test-secret-" + "x" * 40)
