"""thread_markup writes the thread exactly as the theme's templates do, and is only
offered while that holds."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import Environment, FileSystemLoader

from replik import thread_markup
from replik.generators import offer_thread_markup
from replik.i18n import install_into
from replik.settings import Settings
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
    install_into(env, Settings(theme=str(THEME), lang=lang))
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


@cache
def shipped(lang: str, fast: bool) -> Environment:
    """The shipped theme's environment, made once (compiling the partials is most of
    a comparison's cost)."""
    return environment(lang=lang, fast=fast)


def both_ways(made: list[Entry], open_: bool = True, lang: str = "de", siteurl: str = "",
              slug: str = "beitrag", depth: int = 5) -> tuple[str, str]:
    """The thread of ``made`` drawn by the templates and by thread_markup."""
    thread = LazyThread(made, depth, lang, "Europe/Berlin")
    article = SimpleNamespace(
        slug=slug, lang=lang, comment_count=len(made), comments_open=open_,
        comments=ThreadView(thread, flat=False), comments_flat=ThreadView(thread, flat=True))
    context = {"SITEURL": siteurl, "REPLIK_INTAKE_URL": "/replik/comment",
               "article": article, "comment_form": lambda slug: ""}
    return tuple(shipped(lang, fast).from_string(THREAD).render(context)  # type: ignore[return-value]
                 for fast in (False, True))


def _made(number: int, minutes: int, **fields: Any) -> Entry:
    return Entry(id=f"20100305T1147{number:02d}000000Z-0a1b2c3d", article="beitrag",
                 body=fields.pop("body", "Hallo *Welt*"),
                 date=datetime(2010, 3, 5, 11, 47, tzinfo=UTC) + timedelta(minutes=minutes),
                 **fields)


#: Every kind of entry the partials tell apart, nested deeper than the depth cap.
HAND_PICKED = [
    _made(1, 0, author="Anna <&> \"Zitat\" 'x'", url="https://anna.example/?a=1&b=<2>"),
    _made(2, 1, author="", url="javascript:alert(1)", reply_to="20100305T114701000000Z-0a1b2c3d",
          body="a <b> & \"c\" https://example.org/x?y=1&z=2"),
    _made(3, 2, author="Redaktion", staff=True, url="  HTTP://Example.org ",
          reply_to="20100305T114702000000Z-0a1b2c3d", body="> Zitat\n\nJa."),
    _made(4, 3, author="Tief", reply_to="20100305T114703000000Z-0a1b2c3d", body="100 %"),
    _made(5, 4, type="pingback", title="Ein Blog über <Dinge>", source="https://b.example/p"),
    _made(6, 5, type="trackback", title="", author="", source="ftp://x", url="http:"),
    _made(7, 6, type="webmention", author="Wem", url="https://w.example/",
          source=" https://w.example/antwort ", reply_to="20100305T114701000000Z-0a1b2c3d",
          extra={"Webmention-Kind": "reply", "Author-Photo": "https://w.example/me.jpg"}),
    _made(8, 7, type="webmention", author="Fan", source="https://f.example/like",
          extra={"Webmention-Kind": "like", "Author-Photo": "javascript:x"}),
    _made(9, 8, type="webmention", author="Teiler", source="http:",
          extra={"Webmention-Kind": "repost"}),
    _made(10, 9, type="webmention", title="Lesezeichen", source="https://l.example/",
          extra={"Webmention-Kind": "bookmark"}),
    _made(11, 10, type="webmention", title="Erwähnt", source="https://m.example/",
          extra={"Webmention-Kind": ""}),
    _made(12, 11, body=""),
]


@pytest.mark.parametrize(("open_", "lang", "siteurl", "slug", "depth"), [
    (True, "de", "", "beitrag", 5),
    (True, "en", "https://x.example/<&>", "ä ö/ü?&x=1", 2),
    (False, "de", "https://blog.example", "beitrag", 1),
])
def test_hand_picked_threads_the_same_bytes(open_: bool, lang: str, siteurl: str, slug: str,
                                            depth: int) -> None:
    made = [replace(entry) for entry in HAND_PICKED]  # a thread blanks what it shows
    by_templates, by_python = both_ways(made, open_, lang, siteurl, slug, depth)
    assert by_python == by_templates
    assert by_templates.count('class="comment-item') == len(HAND_PICKED)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries(), st.booleans(), st.sampled_from(["de", "en"]),
       st.sampled_from(["", "https://blog.example", "https://x.example/<&>"]),
       st.sampled_from(["beitrag", "ä ö/ü?&x=1"]), st.integers(1, 5))
def test_the_same_bytes_as_the_templates(made: list[Entry], open_: bool, lang: str,
                                         siteurl: str, slug: str, depth: int) -> None:
    by_templates, by_python = both_ways(made, open_, lang, siteurl, slug, depth)
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
