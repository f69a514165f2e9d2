"""thread_markup writes the thread exactly as the theme's templates do, and is only
offered while that holds."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import Environment, FileSystemLoader
from test_site_build import build_sample_site

from replik import thread_markup
from replik.i18n import install_into
from replik.plugin import offer_thread_markup
from replik.store import Entry
from replik.thread import LazyThread, ThreadView

ROOT = Path(__file__).resolve().parents[1]
THEME = ROOT / "theme"
THREAD = '{% include "partials/comments.html" %}'


def environment(templates: Path = THEME / "templates", lang: str = "de", *,
                fast: bool, **options: Any) -> Environment:
    """Set up as Pelican sets up ours (pelicanconf.py's JINJA_ENVIRONMENT)."""
    options = {"trim_blocks": True, "lstrip_blocks": True, **options}
    env = Environment(loader=FileSystemLoader(str(templates)),
                      extensions=["jinja2.ext.i18n"], **options)
    install_into(env, {"THEME": str(THEME), "DEFAULT_LANG": lang})
    if fast:
        env.globals["replik_comment_items"] = thread_markup.comment_items
    return env


def test_the_shipped_partials_are_the_ones_it_was_written_for() -> None:
    env = environment(fast=False)
    for name, digest in thread_markup.SHIPPED_SOURCES.items():
        source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
        assert thread_markup.source_digest(source) == digest, (
            f"theme/templates/{name} changed: make replik/thread_markup.py write what it"
            " writes now (this file's other tests compare them), then put the new digest"
            f" {thread_markup.source_digest(source)} into SHIPPED_SOURCES"
        )
    assert thread_markup.matches_theme(env)


def test_not_offered_for_an_edited_partial_or_other_whitespace(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(THEME / "templates", templates)
    assert thread_markup.matches_theme(environment(templates, fast=False))
    assert not thread_markup.matches_theme(environment(fast=False, trim_blocks=False))
    assert not thread_markup.matches_theme(environment(fast=False, lstrip_blocks=False))
    assert not thread_markup.matches_theme(environment(fast=False, newline_sequence="\r\n"))
    assert not thread_markup.matches_theme(environment(fast=False, finalize=str))
    comment = templates / "partials" / "comment.html"
    comment.write_text(comment.read_text().replace('class="comment-by"', 'class="by"'))
    assert not thread_markup.matches_theme(environment(templates, fast=False))
    (templates / "partials" / "comment.html").unlink()
    assert not thread_markup.matches_theme(environment(templates, fast=False))


# --- byte identity over generated threads ---------------------------------------------
TEXT = st.text(alphabet=st.sampled_from(list("aZ ü<>&\"'%{}#/:.\\")), max_size=12)
URL = st.one_of(
    st.just(""), TEXT,
    st.sampled_from(["https://example.org/a?b=1&c=<2>", "HTTP://Example.org", "  https://x.y ",
                     "javascript:alert(1)", "http:", "https://", "ftp://x"]),
)
KINDS = ["comment", "pingback", "trackback", "webmention"]
WEBMENTION_KINDS = ["", "reply", "like", "repost", "bookmark", "mention"]


@st.composite
def entries(draw: Any) -> list[Entry]:
    start = datetime(2010, 3, 5, 11, 47, tzinfo=UTC)
    made: list[Entry] = []
    for number in range(draw(st.integers(0, 9))):
        kind = draw(st.sampled_from(KINDS))
        extra = {}
        if kind == "webmention":
            extra["Webmention-Kind"] = draw(st.sampled_from(WEBMENTION_KINDS))
            if draw(st.booleans()):
                extra["Author-Photo"] = draw(URL)
        parent = draw(st.sampled_from(made)).id if made and draw(st.booleans()) else ""
        made.append(Entry(
            id=f"20100305T1147{number:02d}000000Z-{draw(st.sampled_from(['0a1b2c3d', 'ff00ff00']))}",
            article="beitrag", body=draw(st.sampled_from(
                ["Hallo *Welt*", "a <b> & \"c\" https://example.org/x?y=1&z=2", "> Zitat\n\nJa.",
                 ""])),
            date=start + timedelta(minutes=draw(st.integers(0, 10**6))),
            type=kind, author=draw(TEXT), url=draw(URL), reply_to=parent,
            staff=draw(st.booleans()), title=draw(TEXT), source=draw(URL), extra=extra,
        ))
    return made


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries(), st.booleans(), st.sampled_from(["de", "en"]),
       st.sampled_from(["", "https://blog.example", "https://x.example/<&>"]),
       st.sampled_from(["beitrag", "ä ö/ü?&x=1"]), st.integers(1, 5))
def test_the_same_bytes_as_the_templates(made: list[Entry], open_: bool, lang: str,
                                         siteurl: str, slug: str, depth: int) -> None:
    thread = LazyThread(made, depth, lang, "Europe/Berlin")
    article = SimpleNamespace(
        slug=slug, lang=lang, comment_count=len(made), comments_open=open_,
        comments=ThreadView(thread, flat=False), comments_flat=ThreadView(thread, flat=True))
    context = {"SITEURL": siteurl, "REPLIK_INTAKE_URL": "/replik/comment",
               "article": article, "comment_form": lambda slug: ""}
    by_templates = environment(lang=lang, fast=False).from_string(THREAD).render(context)
    by_python = environment(lang=lang, fast=True).from_string(THREAD).render(context)
    assert by_python == by_templates


def test_the_plugin_offers_it_only_for_the_shipped_partials(tmp_path: Path) -> None:
    shipped = SimpleNamespace(env=environment(fast=False))
    offer_thread_markup(shipped)
    assert shipped.env.globals.get("replik_comment_items") is thread_markup.comment_items
    templates = tmp_path / "templates"
    shutil.copytree(THEME / "templates", templates)
    loop = templates / "partials" / "comments.html"
    loop.write_text(loop.read_text().replace("comment-item depth-", "entry depth-"))
    edited = SimpleNamespace(env=environment(templates, fast=False))
    offer_thread_markup(edited)
    assert "replik_comment_items" not in edited.env.globals


@pytest.mark.parametrize("fast", [True, False])
def test_labels_from_the_page_language(fast: bool) -> None:
    entry = Entry(id="20100305T114700000000Z-0a1b2c3d", article="a", body="Hallo",
                  date=datetime(2010, 3, 5, 10, 47, tzinfo=UTC), author="", staff=True)
    thread = LazyThread([entry], 5, "de", "Europe/Berlin")
    article = SimpleNamespace(slug="a", lang="de", comment_count=1, comments_open=True,
                              comments=ThreadView(thread, flat=False),
                              comments_flat=ThreadView(thread, flat=True))
    html = environment(fast=fast).from_string(THREAD).render(
        article=article, SITEURL="", comment_form=lambda slug: "")
    assert "5. März 2010 um 11:47" in html
    assert "Anonym" in html


@pytest.mark.slow
def test_a_real_build_writes_the_same_pages_either_way(tmp_path: Path) -> None:
    """The sample blog (threads, staff replies, pingbacks, closed posts) built by the
    real Pelican: once with thread_markup, once with a partial that differs only in a
    template comment, so the templates draw the threads."""
    overrides = tmp_path / "overrides" / "partials"
    overrides.mkdir(parents=True)
    comment = (THEME / "templates" / "partials" / "comment.html").read_text()
    assert comment.startswith("{#- ")
    (overrides / "comment.html").write_text(comment.replace("{#- ", "{#- (edited) ", 1))
    fast, slow = tmp_path / "fast" / "output", tmp_path / "slow" / "output"
    build_sample_site(fast)
    build_sample_site(slow, THEME_TEMPLATES_OVERRIDES=[str(overrides.parent)])
    pages = sorted(p.relative_to(fast) for p in fast.rglob("*.html"))
    assert pages == sorted(p.relative_to(slow) for p in slow.rglob("*.html"))
    threads = 0
    for page in pages:
        html = (fast / page).read_text()
        threads += 'class="comment-item' in html
        assert html == (slow / page).read_text(), page
    assert threads >= 3
