"""Small blog projects built with the real Pelican, for tests.

A project is content/, comments/ and a pelicanconf.py in a temporary folder.
The theme is a minimal one of the tests' own (it prints what the plugin attaches),
so plugin tests do not depend on the shipped theme's markup.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

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
    conf.write_text("".join(f"{k} = {v!r}\n" for k, v in values.items()))
    return conf


def add_entry(root: Path, article: str, body: str, when: datetime, state: str = "approved",
              **fields: object) -> Entry:
    entry = Entry(id=new_id(when), article=article, body=body, date=when, **fields)
    return Store(root / "comments").add(entry, state)


def build(root: Path) -> Path:
    """Run the real Pelican on the project; returns the output folder."""
    from pelican import Pelican
    from pelican.settings import read_settings

    settings = read_settings(str(root / "pelicanconf.py"))
    Pelican(settings).run()
    return Path(settings["OUTPUT_PATH"])


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
