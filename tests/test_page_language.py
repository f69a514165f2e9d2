"""Every page speaks its own language: a post's page its post's, listings the site's.

Builds the sample blog (German, with one English post) and reads every generated
HTML page: the "By … on …" lines under post titles, comment dates and archive dates
are in the language of the element's page (or of the part marked with ``lang``).
The catalogs of the project's parts (theme, desk, server …) never reword each other.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from liveserver import live_server
from lxml import html as lxml_html
from sitebuilder import write_post
from test_intake_support import client, form, make_settings
from test_site_build import build_sample_site

from replik.i18n import catalog_conflicts, load_translations
from replik.server.app import create_app

ROOT = Path(__file__).resolve().parents[1]

MONTHS = {
    "de": "Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember",
    "en": "January|February|March|April|May|June|July|August|September|October|November"
          "|December",
}
DATE = {
    "de": rf"\d{{1,2}}\. (?:{MONTHS['de']}) \d{{4}}",
    "en": rf"(?:{MONTHS['en']}) \d{{1,2}}, \d{{4}}",
}
# "Von Jan Petersen am 7. Oktober 2026 in Kundendialog"
POST_LINE = {
    "de": re.compile(rf"^Von [^,]+(?:, [^,]+)* am {DATE['de']}(?: in .+)?$"),
    "en": re.compile(rf"^By [^,]+(?:, [^,]+)* on {DATE['en']}(?: in .+)?$"),
}
COMMENT_DATE = {
    "de": re.compile(rf"^{DATE['de']} um \d{{1,2}}:\d\d$"),
    "en": re.compile(rf"^{DATE['en']} at \d{{1,2}}:\d\d\s[AP]M$"),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    out = tmp_path_factory.mktemp("languages") / "output"
    build_sample_site(out)
    return SimpleNamespace(out=out, pages=sorted(out.rglob("*.html")))


def lang_of(element) -> str:
    """The language an element is written in: its own or its nearest ancestor's lang."""
    found = element.xpath("ancestor-or-self::*[@lang][1]/@lang")
    assert found, "every page states its language"
    return found[0].split("-")[0]


def words(element) -> str:
    return " ".join(element.text_content().split())


def test_the_parts_catalogs_never_reword_each_other() -> None:
    for lang in ("de", "en"):
        assert catalog_conflicts(str(ROOT / "theme" / "translations"), lang) == []


def test_a_conflict_between_two_catalogs_is_reported(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "translations" / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    head = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    (folder / "a.po").write_text(head + 'msgid "on"\nmsgstr "zu"\n', "utf-8")
    (folder / "b.po").write_text(head + 'msgid "on"\nmsgstr "am"\n\n'
                                 'msgctxt "post date"\nmsgid "on"\nmsgstr "am"\n', "utf-8")
    conflicts = catalog_conflicts(str(tmp_path / "translations"), "de")
    assert len(conflicts) == 1
    assert "b.po translates 'on' as 'am', a.po as 'zu'" in conflicts[0]
    with caplog.at_level(logging.WARNING, logger="replik.i18n"):
        translations = load_translations(str(tmp_path / "translations"), "de")
    assert "give one of them a msgctxt" in caplog.text
    # The first catalog keeps its word; a string with a context is a string of its own.
    assert translations.gettext("on") == "zu"
    assert translations.pgettext("post date", "on") == "am"


def test_post_lines_are_in_each_pages_language(site: SimpleNamespace) -> None:
    seen = {"de": 0, "en": 0}
    for path in site.pages:
        doc = lxml_html.fromstring(path.read_bytes())
        for meta in doc.find_class("post-meta"):
            lang = lang_of(meta)
            line = words(meta)
            assert POST_LINE[lang].match(line), f"{path.relative_to(site.out)} ({lang}): {line!r}"
            seen[lang] += 1
    assert seen["de"] >= 20 and seen["en"] >= 1, seen


def test_comment_and_archive_dates_are_in_each_pages_language(site: SimpleNamespace) -> None:
    seen = {"de": 0, "en": 0}
    for path in site.pages:
        doc = lxml_html.fromstring(path.read_bytes())
        for time in doc.xpath("//*[contains(@class, 'comment-date')]//time"):
            lang = lang_of(time)
            assert COMMENT_DATE[lang].match(words(time)), (path.name, lang, words(time))
            seen[lang] += 1
        for time in doc.xpath("//ul[@class='archive-list']//time"):
            lang = lang_of(time)
            assert re.fullmatch(DATE[lang], words(time)), (path.name, lang, words(time))
    assert seen["de"] >= 10 and seen["en"] >= 1, seen


def test_an_english_post_in_a_german_listing_reads_german(site: SimpleNamespace) -> None:
    doc = lxml_html.fromstring((site.out / "index.html").read_bytes())
    assert doc.get("lang") == "de"
    teaser = next(a for a in doc.find_class("post-summary")
                  if "Reply in the reader" in words(a))
    meta = teaser.find_class("post-meta")[0]
    assert lang_of(meta) == "de"
    assert words(meta) == "Von Jan Petersen am 14. September 2026 in Kundendialog"
    assert "Weiterlesen" in words(teaser)
    # The post's own words (its title and summary) are marked as English.
    title = teaser.find_class("post-summary-title")[0]
    assert lang_of(title) == "en"
    assert lang_of(teaser.find_class("post-summary-text")[0]) == "en"
    archive = lxml_html.fromstring((site.out / "archives.html").read_bytes())
    line = next(li for li in archive.xpath("//ul[@class='archive-list']/li")
                if "Reply in the reader" in words(li))
    assert words(line.find("time")) == "14. September 2026"


def test_the_preview_speaks_the_posts_language(tmp_path: Path, monkeypatch) -> None:
    for name in ("PYTHON_AKISMET_API_KEY", "PYTHON_AKISMET_BLOG_URL", "REPLIK_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = make_settings(tmp_path, REPLIK_REBUILD=False)
    write_post(tmp_path, "in-english", "In English", "2026-03-06 10:00", "Lang: en\n")
    shown = {}
    with live_server(create_app(settings=settings)) as (base, _holder):
        with client(base) as http:
            for slug in ("in-english", "offene-debatte"):
                answer = http.post("/replik/preview", headers={"Accept": "application/json"},
                                   data=form(slug, author="", body="Vorschau"))
                assert answer.status_code == 200, answer.text
                shown[slug] = lxml_html.fromstring(answer.json()["html"])
    for slug, lang, anonymous in (("in-english", "en", "Anonymous"),
                                  ("offene-debatte", "de", "Anonym")):
        assert words(shown[slug].find_class("comment-author")[0]) == anonymous
        assert COMMENT_DATE[lang].match(words(shown[slug].find(".//time"))), slug
