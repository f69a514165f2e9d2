"""cached_fragment: a part of a page kept per language, equal to rendering it each time."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import DictLoader, Environment, FileSystemLoader

from replik.i18n import install_into

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"THEME": str(ROOT / "theme"), "DEFAULT_LANG": "de"}


def env_with(templates: dict[str, str], autoescape: bool = False) -> tuple[Environment, list[str]]:
    """An environment like Pelican's with our globals; ``calls`` records each time a
    block is really rendered."""
    env = Environment(loader=DictLoader(templates), trim_blocks=True, lstrip_blocks=True,
                      autoescape=autoescape)
    install_into(env, SETTINGS)
    calls: list[str] = []
    env.globals["note"] = lambda name: calls.append(name) or ""
    return env, calls


def page(lang: str, slug: str = "post") -> dict[str, Any]:
    return {"article": SimpleNamespace(lang=lang, slug=slug)}


def test_a_block_is_rendered_once_per_page_language() -> None:
    env, calls = env_with({"t": '{% call cached_fragment("badges") %}{{ note("badges") }}'
                                '{{ _("Comments") }}|{% endcall %}'})
    template = env.get_template("t")
    outputs = [template.render(page(lang)) for lang in ("de", "de", "en", "de", "en")]
    assert outputs == ["Kommentare|", "Kommentare|", "Comments|", "Kommentare|", "Comments|"]
    assert calls == ["badges", "badges"]  # once for de, once for en


def test_each_siteurl_gets_its_own_block() -> None:
    # With RELATIVE_URLS, Pelican makes SITEURL "..", "../.." … by the page's depth.
    env, calls = env_with({"t": '{% call cached_fragment("badges") %}{{ note("b") }}'
                                '<a href="{{ SITEURL }}/theme/css/social.css">{% endcall %}'})
    template = env.get_template("t")
    outputs = [template.render(page("de"), SITEURL=url) for url in ("..", "../..", "..")]
    assert outputs == ['<a href="../theme/css/social.css">', '<a href="../../theme/css/social.css">',
                       '<a href="../theme/css/social.css">']
    assert calls == ["b", "b"]


@pytest.mark.parametrize("autoescape", [True, False])
def test_the_substitute_is_put_in_as_the_block_would_write_it(autoescape: bool) -> None:
    source = ('{% call(slug) cached_fragment("form", substitute=article.slug) %}'
              '<input value="{{ slug }}"><a href="/{{ slug }}/">{{ _("Comments") }}</a>'
              '{% endcall %}')
    cached, _calls = env_with({"t": source}, autoescape)
    fresh = Environment(loader=DictLoader({"t": source.replace(
        'cached_fragment("form", substitute=article.slug)', 'each(article.slug)')}),
        trim_blocks=True, lstrip_blocks=True, autoescape=autoescape)
    install_into(fresh, SETTINGS)
    fresh.globals["each"] = lambda value, caller: caller(value)
    slugs = ["erster-beitrag", 'quote"s', "a&b", "<script>alert(1)</script>", "ümlaut",
             "Replik0000000000000000Mark", "erster-beitrag"]
    for lang in ("de", "en"):
        for slug in slugs:
            expected = fresh.get_template("t").render(page(lang, slug))
            assert cached.get_template("t").render(page(lang, slug)) == expected


def test_a_block_that_changes_its_value_is_rendered_every_time() -> None:
    # |upper breaks the contract (the value written other than as {{ value }}): the
    # first use notices, and every page gets the block rendered for it.
    env, calls = env_with({"t": '{% call(slug) cached_fragment("form", substitute=article.slug) %}'
                                '{{ note("form") }}{{ slug|upper }}{% endcall %}'})
    template = env.get_template("t")
    assert [template.render(page("de", s)) for s in ("eins", "zwei", "drei")] == [
        "EINS", "ZWEI", "DREI"]
    assert len(calls) == 4  # twice for the check, then once a page


def test_the_kept_form_is_the_form_rendered_for_each_post() -> None:
    # The theme's own use: the comment form under every post, in both languages.
    templates = FileSystemLoader(str(ROOT / "theme" / "templates"))
    discussion = ('{% from "partials/comment_form.html" import comment_form with context %}'
                  '{% include "partials/comments.html" %}')
    cached = Environment(loader=templates, trim_blocks=True, lstrip_blocks=True)
    install_into(cached, SETTINGS)
    fresh = Environment(loader=templates, trim_blocks=True, lstrip_blocks=True)
    install_into(fresh, SETTINGS)
    fresh.globals["cached_fragment"] = (
        lambda name, substitute=None, *, caller: caller() if substitute is None
        else caller(substitute))
    for lang, slug in [("de", "eins"), ("en", "two"), ("de", "drei-vier"), ("en", "f&ive")]:
        article = SimpleNamespace(slug=slug, lang=lang, comments=[], comment_count=0,
                                  comments_open=True)
        context = {"article": article, "SITEURL": "https://blog.example"}
        html = cached.from_string(discussion).render(context)
        assert html == fresh.from_string(discussion).render(context)
        assert f'name="article" value="{slug.replace("&", "&amp;")}"' in html
        assert ("Kommentar abschicken" if lang == "de" else "Post comment") in html
