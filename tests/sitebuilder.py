"""Blog projects for tests, built with the real Pelican: the one place that writes
a test's pelicanconf.py and runs a build.

A project is content/, comments/ and a pelicanconf.py in a temporary folder, in
one of two kinds:

- ``write_conf``: a minimal theme of the tests' own (it prints what the plugin
  attaches), so plugin tests do not depend on the shipped theme's markup;
- ``write_project_conf``: the project's own pelicanconf.py (shipped theme, every
  REPLIK_* choice) with the test's paths and settings on top; ``blog_paths`` gives
  the paths of a blog in a temporary folder, ``write_posts`` its two posts.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from replik.store import Entry, Store, new_id

ROOT = Path(__file__).resolve().parents[1]

ARTICLE_TEMPLATE = """<!doctype html>
<html lang="{{ DEFAULT_LANG }}"><head><title>{{ article.title }}</title></head><body>
<h1>{{ article.title }}</h1><p class="posted">{{ article.locale_date }}</p>
<p class="count">{{ _("Comments") }} ({{ article.comment_count }})</p>
{% macro tree(nodes) %}<ol>{% for n in nodes %}
<li id="{{ n.anchor }}" class="entry depth-{{ n.depth }} type-{{ n.type }}{% if n.staff %} staff{% endif %}">
<span class="author">{% if n.url %}<a href="{{ n.url }}" rel="nofollow ugc">{{ n.author }}</a>{% else %}{{ n.author }}{% endif %}</span>
<span class="date">{{ n.date_text }}</span><div class="body">{{ n.html }}</div>
{% if n.children %}{{ tree(n.children) }}{% endif %}</li>{% endfor %}</ol>{% endmacro %}
{{ tree(article.comments) }}
{% if article.comments_open %}<form class="comment-form"></form>{% else %}<p class="closed">closed</p>{% endif %}
</body></html>
"""

INDEX_TEMPLATE = """<!doctype html><html><body>{% for a in articles %}
<p class="teaser" data-slug="{{ a.slug }}">{{ a.title }}: {{ a.comment_count }}</p>{% endfor %}
</body></html>
"""


def write_theme(root: Path) -> Path:
    theme = root / "theme"
    templates = theme / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (templates / "article.html").write_text(ARTICLE_TEMPLATE)
    (templates / "index.html").write_text(INDEX_TEMPLATE)
    for name in ("page", "category", "tag", "author", "archives", "categories", "tags",
                 "authors", "period_archives"):
        (templates / f"{name}.html").write_text(f'{{% extends "!simple/{name}.html" %}}')
    return theme


def write_post(root: Path, slug: str, title: str, date: str, extra: str = "") -> None:
    """A post in ``root/content``; ``extra`` holds more metadata lines ("Comments: closed\n")."""
    content = root / "content"
    content.mkdir(parents=True, exist_ok=True)
    (content / f"{slug}.md").write_text(textwrap.dedent(f"""\
        Title: {title}
        Date: {date}
        Slug: {slug}
        Category: Meinung
        Author: Redaktion
        """) + extra + f"\nEin Beitrag über {title}.\n", encoding="utf-8")


def write_conf(root: Path, theme: Path | str | None = None, **settings: object) -> Path:
    values = {
        "SITENAME": "Testblog",
        "SITEURL": "http://blog.test",
        "PATH": "content",
        "OUTPUT_PATH": "output",
        "THEME": str(theme or root / "theme"),
        "TIMEZONE": "Europe/Berlin",
        "DEFAULT_LANG": "de",
        "PLUGIN_PATHS": [str(ROOT / "plugins")],
        "PLUGINS": ["replik"],
        "ARTICLE_URL": "{slug}/",
        "ARTICLE_SAVE_AS": "{slug}/index.html",
        "FEED_ALL_ATOM": None,
        "CATEGORY_FEED_ATOM": None,
        "AUTHOR_FEED_ATOM": None,
        "AUTHOR_FEED_RSS": None,
        "TRANSLATION_FEED_ATOM": None,
        "CACHE_CONTENT": False,
        "LOAD_CONTENT_CACHE": False,
    }
    values.update(settings)
    conf = root / "pelicanconf.py"
    conf.write_text(_assignments(values))
    return conf


def small_site(root: Path, posts: list[tuple[str, ...]], theme: Path | str | None = None,
               **settings: object) -> Path:
    """A minimal-theme project: the theme, ``posts`` (``write_post``'s arguments after
    ``root``) and pelicanconf.py; returns the conf."""
    if theme is None:
        write_theme(root)
    for post in posts:
        write_post(root, *post)
    return write_conf(root, theme, **settings)


def _assignments(values: dict[str, object]) -> str:
    return "".join(f"{key} = {value!r}\n" for key, value in values.items())


# -- the project's own configuration -----------------------------------------------------

POSTS = {
    "offene-debatte": ("Offene Debatte", "2026-03-05 11:47", ""),
    "geschlossen": ("Geschlossene Runde", "2026-02-01 09:00", "Comments: closed\n"),
}


def write_posts(site: Path) -> None:
    """The test blog's two posts: one open for comments, one closed."""
    for slug, (title, date, extra) in POSTS.items():
        write_post(site, slug, title, date, extra)


def blog_paths(site: Path, siteurl: str) -> dict[str, object]:
    """Settings that put a blog's content, output, store and cache in ``site``."""
    return {
        "PATH": str(site / "content"),
        "OUTPUT_PATH": str(site / "output"),
        "REPLIK_STORE": str(site / "comments"),
        "REPLIK_CACHE": str(site / "cache"),
        "SITEURL": siteurl,
        "FEED_DOMAIN": siteurl,
        "CACHE_CONTENT": False,
        "LOAD_CONTENT_CACHE": False,
    }


def write_project_conf(root: Path, **settings: object) -> Path:
    """A pelicanconf.py in ``root`` that runs the project's own file, then sets the
    shipped theme, the plugins and ``settings``."""
    project = ROOT / "pelicanconf.py"
    values = {"THEME": str(ROOT / "theme"), "PLUGIN_PATHS": [str(ROOT / "plugins")], **settings}
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "pelicanconf.py"
    conf.write_text(f"exec(compile(open({str(project)!r}, encoding='utf-8').read(),"
                    f" {str(project)!r}, 'exec'))\n" + _assignments(values), encoding="utf-8")
    return conf


def add_entry(root: Path, article: str, body: str, when: datetime, state: str = "approved",
              **fields: object) -> Entry:
    entry = Entry(id=new_id(when), article=article, body=body, date=when, **fields)
    return Store(root / "comments").add(entry, state)


def build_site(settings: Any) -> Path:
    """Run the real Pelican with ``settings`` (Pelican's dict or a Settings); returns the
    output folder."""
    from pelican import Pelican
    from pelican.settings import configure_settings

    raw = dict(getattr(settings, "pelican", settings))
    Pelican(configure_settings(raw)).run()
    return Path(raw["OUTPUT_PATH"])


def build(root: Path) -> Path:
    """Run the real Pelican on the project in ``root``; returns the output folder."""
    from pelican.settings import read_settings

    return build_site(read_settings(str(root / "pelicanconf.py")))


def snapshot(out: Path) -> dict[Path, bytes]:
    """Every file below ``out`` with its bytes (to compare two builds)."""
    return {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
