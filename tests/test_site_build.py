"""Build the sample blog with the real Pelican and check what readers get.

One build per test module (a subprocess, so plugin signals and caches of other
tests cannot leak in); every test reads the output folder.
"""

from __future__ import annotations

import json
import mimetypes
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import feedparser
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from jinja2 import Environment, FileSystemLoader
from lxml import html as lxml_html

from replik.i18n import install_into
from replik.render import format_datetime_local
from replik.settings import Settings
from replik.store import PRIVATE_FIELDS, Entry, Store
from replik.thread import build_thread

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "theme" / "templates"
SITEURL = "https://dialogfeld.test"
TIMEZONE = "Europe/Berlin"
STORE = Store(ROOT / "comments")


def build_sample_site(out: Path, **settings: object) -> subprocess.CompletedProcess[str]:
    """Run the real Pelican on the project's content/, comments/ and theme/ into ``out``."""
    overrides = {
        "SITEURL": SITEURL,
        "FEED_DOMAIN": SITEURL,
        "REPLIK_CACHE": str(out.parent / "replik-cache"),
        "CACHE_PATH": str(out.parent / "pelican-cache"),
        **settings,
    }
    args = [sys.executable, "-m", "pelican", "content", "-o", str(out), "-s", "pelicanconf.py"]
    args += ["-e", *(f"{key}={json.dumps(value)}" for key, value in overrides.items())]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        pytest.fail(f"pelican failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    out = tmp_path_factory.mktemp("site") / "output"
    result = build_sample_site(out)
    return SimpleNamespace(out=out, log=result.stdout + result.stderr)


def article_page(out: Path, slug: str) -> Path:
    # German posts at /<year>/<slug>/, posts in English at /en/<year>/<slug>/.
    pages = list(out.glob(f"*/{slug}/index.html")) + list(out.glob(f"*/*/{slug}/index.html"))
    assert len(pages) == 1, f"expected one page for {slug}, found {pages}"
    return pages[0]


def article_url(site: SimpleNamespace, slug: str) -> str:
    return article_page(site.out, slug).relative_to(site.out).parent.as_posix() + "/"


def post_lang(slug: str) -> str:
    """A sample post's language: its ``Lang:`` line, else the site's (German)."""
    for post in (ROOT / "content").glob("*.md"):
        head = post.read_text(encoding="utf-8").split("\n\n", 1)[0]
        if f"\nSlug: {slug}\n" in f"\n{head}\n":
            for line in head.splitlines():
                if line.startswith("Lang:"):
                    return line.split(":", 1)[1].strip()
    return "de"


def parse(path: Path):
    return lxml_html.fromstring(path.read_bytes())


def text_of(element) -> str:
    return " ".join(element.text_content().split())


def all_output_text(out: Path) -> str:
    return "\n".join(
        p.read_text("utf-8", errors="replace") for p in sorted(out.rglob("*"))
        if p.is_file() and p.suffix in (".html", ".xml", ".json", ".txt", ".css", ".js")
    )


APPROVED = STORE.approved_by_article()
OPEN_SLUG = "shitstorm-ist-kein-naturereignis"
CLOSED_SLUG = "schluss-mit-gewinnspielen"
DISCUSSION_SLUG = "die-kommentarspalte-bleibt-offen"


def test_the_sample_store_has_what_the_checks_need() -> None:
    everything = list(STORE.all_entries(on_error="raise"))
    states = {e.state for e in everything}
    assert states == {"pending", "approved", "spam", "trash"}
    approved = [e for e in everything if e.state == "approved"]
    assert len([e for e in approved if e.type == "pingback"]) >= 3
    assert any(e.staff for e in approved)
    months = {(e.date.year, e.date.month) for e in approved if e.type == "comment"}
    assert len(months) >= 4, "reader comments should span several months"
    assert any(e.email for e in everything) and any(e.ip for e in everything)
    # Ids sort by time: each one is its entry's date in UTC.
    for entry in everything:
        assert entry.id[:22] == f"{entry.date.astimezone(UTC):%Y%m%dT%H%M%S%f}Z", entry.id


def test_the_sample_has_a_year_long_discussion() -> None:
    """What this blog is for (README): one post with a discussion over a year."""
    entries = APPROVED[DISCUSSION_SLUG]
    by_id = {e.id: e for e in entries}
    readers = [e for e in entries if e.type == "comment" and not e.staff]
    staff = [e for e in entries if e.staff]
    linkbacks = [e for e in entries if e.is_linkback]
    assert len(entries) >= 20 and len(readers) >= 12
    assert len({e.author for e in staff}) >= 2 and len(staff) >= 2
    assert len([e for e in linkbacks if e.type == "pingback"]) >= 3
    assert [e for e in entries if e.reply_to and by_id[e.reply_to].reply_to], "no thread"
    assert [e for e in readers if e.reply_to and not by_id[e.reply_to].staff], \
        "readers answer each other"
    dates = sorted(e.date for e in entries)
    assert (dates[-1] - dates[0]).days >= 365 - 7
    assert len({(d.year, d.month) for d in dates}) >= 10
    # Winter and summer time, as the comments were written in Germany.
    assert {e.date.utcoffset().total_seconds() / 3600 for e in entries} == {1, 2}


def test_the_default_desk_report_on_the_sample_is_never_empty() -> None:
    """A newcomer's first look at the desk: the sample has recent reader comments, and
    when "now" is long after them, the report moves to the newest entries."""
    from datetime import timedelta

    from replik.report import build_report, default_period
    from replik.settings import load_settings

    everything = list(STORE.all_entries(on_error="raise"))
    newest = max(e.date for e in everything if e.type == "comment" and not e.staff)
    settings = load_settings(ROOT / "pelicanconf.py")
    assert Path(settings.store).resolve() == STORE.root.resolve()
    for now in (newest + timedelta(days=2), newest + timedelta(days=5 * 365)):
        since, until, moved = default_period(everything, now)
        assert moved == (now - newest > timedelta(days=28))
        report = build_report(settings, since, until, now=now, entries=everything)
        overall = report["overall"]
        assert overall["received"]["comment"] >= 3, (now, overall)
        assert overall["unanswered"], "the sample shows a reader still waiting for an answer"
        assert DISCUSSION_SLUG in report["articles"]


def test_build_reports_no_errors(site: SimpleNamespace) -> None:
    assert "ERROR" not in site.log and "CRITICAL" not in site.log, site.log
    assert (site.out / "index.html").is_file()


@pytest.mark.parametrize("slug", sorted(APPROVED))
def test_every_approved_entry_is_on_its_page_in_order(site: SimpleNamespace, slug: str) -> None:
    doc = parse(article_page(site.out, slug))
    entries = APPROVED[slug]
    shown = doc.xpath("//section[@id='comments']//article[starts-with(@id, 'comment-')]/@id")
    assert sorted(shown) == sorted(f"comment-{e.id}" for e in entries)
    # Siblings in each list appear oldest first.
    by_anchor = {f"comment-{e.id}": e for e in entries}
    for listing in doc.xpath("//section[@id='comments']//ol"):
        ids = listing.xpath("./li/article/@id")
        dates = [by_anchor[i].date for i in ids]
        assert dates == sorted(dates), f"{slug}: entries out of order in a list: {ids}"
    for entry in entries:
        node = doc.get_element_by_id(f"comment-{entry.id}")
        body = text_of(node.find_class("comment-body")[0])
        first_words = " ".join(entry.body.replace("*", "").split()[:4])
        assert first_words in body
        # Each entry links to itself.
        assert node.xpath(f".//a[@href='#comment-{entry.id}']")
    heading = doc.get_element_by_id("comments-title")
    word = {"de": "Kommentare", "en": "Comments"}[post_lang(slug)]
    assert text_of(heading) == f"{word} ({len(entries)})"


def test_dates_are_german_with_time(site: SimpleNamespace) -> None:
    doc = parse(article_page(site.out, OPEN_SLUG))
    first = APPROVED[OPEN_SLUG][0]
    time = doc.get_element_by_id(f"comment-{first.id}").xpath(".//time")[0]
    assert text_of(time) == "4. März 2026 um 14:12"
    assert time.get("datetime") == "2026-03-04T14:12:00+01:00"
    for slug, entries in APPROVED.items():
        doc = parse(article_page(site.out, slug))
        for entry in entries:
            time = doc.get_element_by_id(f"comment-{entry.id}").xpath(".//time")[0]
            lang = post_lang(slug)
            expected = format_datetime_local(entry.date, lang, TIMEZONE)
            assert text_of(time) == " ".join(expected.split())  # English has U+202F before PM
            assert {"de": " um ", "en": " at "}[lang] in text_of(time)


def test_replies_nest_three_levels(site: SimpleNamespace) -> None:
    doc = parse(article_page(site.out, OPEN_SLUG))
    entries = {e.id: e for e in APPROVED[OPEN_SLUG]}
    deepest = [e for e in entries.values() if e.reply_to and entries[e.reply_to].reply_to]
    assert deepest, "the sample needs a reply to a reply"
    node = doc.get_element_by_id(f"comment-{deepest[0].id}")
    assert len(node.xpath("ancestor::li")) == 3
    assert len(node.xpath("ancestor::ol")) == 3
    parent_li = node.xpath("ancestor::li")[-2]
    assert parent_li.xpath("./article/@id") == [f"comment-{deepest[0].reply_to}"]


def test_staff_replies_are_marked_in_words(site: SimpleNamespace) -> None:
    seen = 0
    for slug, entries in APPROVED.items():
        doc = parse(article_page(site.out, slug))
        for entry in entries:
            node = doc.get_element_by_id(f"comment-{entry.id}")
            badges = [text_of(b) for b in node.find_class("badge-staff")]
            if entry.staff:
                seen += 1
                assert badges == [{"de": "Redaktion", "en": "Staff"}[post_lang(slug)]]
                assert "comment-staff" in node.get("class")
            else:
                assert badges == []
    assert seen >= 2


def test_pingbacks_show_title_and_excerpt(site: SimpleNamespace) -> None:
    linkbacks = [e for entries in APPROVED.values() for e in entries if e.is_linkback]
    assert len([e for e in linkbacks if e.type == "pingback"]) >= 3
    assert {e.type for e in linkbacks} == {"pingback", "trackback"}
    for entry in linkbacks:
        doc = parse(article_page(site.out, entry.article))
        node = doc.get_element_by_id(f"comment-{entry.id}")
        link = node.xpath(".//*[contains(@class, 'comment-author')]/a")[0]
        assert text_of(link) == entry.title
        assert link.get("href") == entry.source
        assert link.get("rel") == "nofollow ugc"
        badge = text_of(node.find_class("badge-linkback")[0])
        assert badge == {"pingback": "Pingback", "trackback": "Trackback"}[entry.type]
        body = text_of(node.find_class("comment-body")[0])
        assert body == f"[…] {' '.join(entry.body.split())} […]"
        assert not node.find_class("comment-reply"), "linkbacks take no replies"


def test_reader_websites_are_nofollow_ugc_links(site: SimpleNamespace) -> None:
    with_url = [e for es in APPROVED.values() for e in es if e.type == "comment" and e.url]
    assert with_url
    for entry in with_url:
        doc = parse(article_page(site.out, entry.article))
        link = doc.get_element_by_id(f"comment-{entry.id}").xpath(
            ".//*[contains(@class, 'comment-author')]/a")[0]
        assert (link.get("href"), link.get("rel")) == (entry.url, "nofollow ugc")


def test_pending_spam_and_trash_never_reach_the_site(site: SimpleNamespace) -> None:
    text = all_output_text(site.out)
    hidden = [e for state in ("pending", "spam", "trash") for e in STORE.entries(state)]
    assert {e.state for e in hidden} == {"pending", "spam", "trash"}
    for entry in hidden:
        assert entry.id not in text
        assert entry.body[:40] not in text
        assert entry.author not in text


def test_no_private_field_anywhere_in_the_output(site: SimpleNamespace) -> None:
    text = all_output_text(site.out)
    values = {getattr(e, name) for e in STORE.all_entries() for name in PRIVATE_FIELDS}
    values.discard("")
    assert any("@" in v for v in values) and len(values) >= 5
    for value in values:
        assert value not in text, f"private value {value!r} leaked into the output"


def test_home_page_lists_posts_with_comment_counts(site: SimpleNamespace) -> None:
    doc = parse(site.out / "index.html")
    counts = {
        a.get("href"): text_of(a) for a in doc.xpath("//a[contains(@class, 'comment-count')]")
    }
    for slug, entries in APPROVED.items():
        page = article_page(site.out, slug).relative_to(site.out).parent.as_posix()
        label = counts[f"{SITEURL}/{page}/#comments"]
        word = "Kommentar" if len(entries) == 1 else "Kommentare"
        assert label.startswith(f"{len(entries)} {word} ")
    assert any(label.startswith("0 Kommentare") for label in counts.values())
    summaries = doc.xpath("//article[contains(@class, 'post-summary')]")
    assert len(summaries) == len(list((ROOT / "content").glob("*.md"))) == 6
    for summary in summaries:
        assert summary.xpath(".//time[@datetime]") and summary.xpath(".//a[@class='p-author']")
        assert summary.xpath(".//a[@class='p-category']")
        assert text_of(summary.find_class("p-summary")[0])
    assert doc.xpath("//main[@id='content']") and doc.xpath("//header") and doc.xpath("//footer")


def test_closed_post_shows_the_notice_and_no_form(site: SimpleNamespace) -> None:
    doc = parse(article_page(site.out, CLOSED_SLUG))
    notice = doc.find_class("comments-closed")
    assert [text_of(n) for n in notice] == ["Die Kommentare zu diesem Beitrag sind geschlossen."]
    assert not doc.xpath("//form")
    assert not doc.find_class("comment-reply")
    # The comments it got while open are still shown.
    assert len(doc.xpath("//article[starts-with(@id, 'comment-')]")) == len(APPROVED[CLOSED_SLUG])


def test_open_post_has_the_comment_form(site: SimpleNamespace) -> None:
    doc = parse(article_page(site.out, OPEN_SLUG))
    form = doc.get_element_by_id("respond")
    assert form.tag == "form" and form.get("method") == "post"
    assert form.get("action") == f"{SITEURL}/replik/comment"
    assert form.get("data-preview-url") == f"{SITEURL}/replik/preview"
    fields = {f.get("name"): f for f in form.xpath(".//input | .//textarea")}
    assert set(fields) == {"article", "reply_to", "author", "email", "url", "body", "consent",
                           "homepage", "notify", "notify_scope"}
    # Reply notifications: an unticked box; the address is optional until it is ticked.
    assert fields["notify"].get("type") == "checkbox" and fields["notify"].get("checked") is None
    assert fields["email"].get("required") is None
    assert (fields["article"].get("type"), fields["article"].get("value")) == ("hidden", OPEN_SLUG)
    assert fields["reply_to"].get("type") == "hidden"
    assert fields["email"].get("type") == "email" and fields["url"].get("type") == "url"
    assert fields["body"].tag == "textarea"
    assert (fields["consent"].get("type"), fields["consent"].get("value")) == ("checkbox", "yes")
    honeypot = fields["homepage"]
    assert honeypot.get("tabindex") == "-1" and honeypot.get("autocomplete") == "off"
    wrapper = honeypot.getparent()
    assert wrapper.get("aria-hidden") == "true" and "form-field-honeypot" in wrapper.get("class")
    labels = {lab.get("for"): text_of(lab) for lab in form.xpath(".//label")}
    for name, field in fields.items():
        if field.get("type") != "hidden":
            assert field.get("id") in labels, f"field {name} has no label"
    assert labels["respond-author"].startswith("Name")
    assert labels["respond-email"] == "E-Mail"
    assert labels["respond-body"].startswith("Kommentar")
    assert "leer" in labels["respond-homepage"]
    hint = doc.get_element_by_id(fields["email"].get("aria-describedby"))
    assert text_of(hint) == "wird nicht veröffentlicht"
    assert form.xpath(".//div[@class='comment-preview'][@hidden]")
    assert form.xpath(".//div[@class='form-status'][@role='status'][@aria-live='polite']")
    assert form.xpath(".//button[@type='submit']")
    # Reply links work without JavaScript and tell the script which entry they answer.
    first = APPROVED[OPEN_SLUG][0]
    reply = doc.get_element_by_id(f"comment-{first.id}").find_class("comment-reply")[0]
    assert reply.get("href") == (
        f"{SITEURL}/replik/comment?article={OPEN_SLUG}&reply_to={first.id}#respond")
    assert reply.get("data-reply-to") == first.id
    assert doc.xpath(f"//script[@src='{SITEURL}/theme/js/comments.js'][@defer]")


def test_head_links_feeds_pingback_and_webmention(site: SimpleNamespace) -> None:
    doc = parse(article_page(site.out, OPEN_SLUG))
    head = doc.find("head")
    assert head.xpath(f"link[@rel='pingback'][@href='{SITEURL}/replik/pingback']")
    assert head.xpath(f"link[@rel='webmention'][@href='{SITEURL}/replik/webmention']")
    feeds = {link.get("href"): link.get("type") for link in head.xpath("link[@rel='alternate']")}
    expected = {
        f"{SITEURL}/feeds/all.atom.xml": "application/atom+xml",
        f"{SITEURL}/feeds/all.rss.xml": "application/rss+xml",
        f"{SITEURL}/feeds/comments.atom.xml": "application/atom+xml",
        f"{SITEURL}/feeds/comments.rss.xml": "application/rss+xml",
        f"{SITEURL}/feeds/comments/{OPEN_SLUG}.atom.xml": "application/atom+xml",
        f"{SITEURL}/feeds/comments/{OPEN_SLUG}.rss.xml": "application/rss+xml",
        f"{SITEURL}/feeds/category/krisenkommunikation.atom.xml": "application/atom+xml",
    }
    for href, kind in expected.items():
        assert feeds.get(href) == kind, f"no autodiscovery link for {href}"
        assert (site.out / href.removeprefix(SITEURL + "/")).is_file(), f"{href} not built"
    home_head = parse(site.out / "index.html").find("head")
    assert home_head.xpath("link[@rel='pingback'] | link[@rel='webmention']")


@pytest.mark.parametrize("kind", ["atom", "rss"])
def test_article_comment_feeds_parse(site: SimpleNamespace, kind: str) -> None:
    for slug, entries in APPROVED.items():
        feed = feedparser.parse(str(site.out / "feeds" / "comments" / f"{slug}.{kind}.xml"))
        assert not feed.bozo, feed.get("bozo_exception")
        links = {e.link for e in feed.entries}
        page = article_page(site.out, slug).relative_to(site.out).parent.as_posix()
        assert links == {f"{SITEURL}/{page}/#comment-{e.id}" for e in entries}
        for item in feed.entries:
            assert item.get("author"), item
        by_link = {e.link: e for e in feed.entries}
        for entry in entries:
            item = by_link[f"{SITEURL}/{page}/#comment-{entry.id}"]
            expected_author = entry.title if entry.is_linkback else entry.author
            assert expected_author in item.author


def test_latest_comments_feed_parses_without_private_fields(site: SimpleNamespace) -> None:
    feed = feedparser.parse(str(site.out / "feeds" / "comments.atom.xml"))
    assert not feed.bozo
    approved = [e for es in APPROVED.values() for e in es]
    assert len(feed.entries) == len(approved)
    assert all("#comment-" in item.link for item in feed.entries)
    raw = (site.out / "feeds" / "comments.atom.xml").read_text("utf-8")
    for entry in STORE.all_entries():
        for name in PRIVATE_FIELDS:
            value = getattr(entry, name)
            assert not value or value not in raw


def test_article_body_has_figure_with_credit_and_blockquote(site: SimpleNamespace) -> None:
    photo = parse(article_page(site.out, "antworten-bevor-es-weh-tut"))
    figure = photo.xpath("//div[contains(@class, 'post-body')]//figure")[0]
    image = figure.xpath(".//img")[0]
    assert image.get("alt") and (site.out / image.get("src").removeprefix(SITEURL + "/")).is_file()
    assert "Bild:" in text_of(figure.xpath(".//figcaption")[0])
    quote = parse(article_page(site.out, OPEN_SLUG))
    assert quote.xpath("//div[contains(@class, 'post-body')]//blockquote")


def test_pages_and_lists_are_built(site: SimpleNamespace) -> None:
    for path in ("impressum/index.html", "datenschutz/index.html", "archives.html",
                 "categories.html", "tags.html", "authors.html"):
        doc = parse(site.out / path)
        assert len(doc.xpath("//h1")) == 1, path
        assert doc.get("lang") == "de"
    privacy = text_of(parse(site.out / "datenschutz/index.html"))
    assert "comments/" in privacy and "E-Mail-Adresse" in privacy


# --- The templates on their own: escaping and languages ---------------------

def theme_env(lang: str = "de") -> Environment:
    # Like Pelican's environment: autoescape off, so the theme must switch it on itself.
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), trim_blocks=True,
                      lstrip_blocks=True)
    install_into(env, Settings(theme=str(ROOT / "theme"), lang=lang))
    return env


DISCUSSION = (
    '{% from "partials/comment_form.html" import comment_form with context %}'
    '{% include "partials/comments.html" %}'
)


def render_discussion(entries: list[Entry], lang: str = "de", open_: bool = True) -> str:
    top, flat = build_thread(entries, 5, lang, TIMEZONE)
    article = SimpleNamespace(slug="probe", comments=top, comment_count=len(flat),
                              comments_open=open_)
    return theme_env(lang).from_string(DISCUSSION).render(
        article=article, SITEURL=SITEURL, REPLIK_INTAKE_URL="/replik/comment",
        REPLIK_PREVIEW_URL="/replik/preview")


def probe_entry(**fields: object) -> Entry:
    when = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    values = {"id": "20260102T100000000000Z-0000abcd", "article": "probe", "body": "Hallo",
              "date": when, **fields}
    return Entry(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", " JaVaScript:alert(1)", "\tjavascript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "//evil.example/",
])
def test_hostile_author_fields_are_escaped_and_not_linked(url: str) -> None:
    page = render_discussion([probe_entry(
        author='<script>alert("x")</script><img src=x onerror=alert(1)>', url=url,
        body='<script>alert(2)</script> <a href="javascript:alert(3)">klick</a>')])
    doc = lxml_html.fromstring(page)
    assert not doc.xpath("//script") and not doc.xpath("//img")
    assert not doc.xpath("//@*[starts-with(name(), 'on')]")
    author = doc.find_class("comment-author")[0]
    assert author.xpath("./a") == [] and "<script>" in text_of(author)
    hrefs = " ".join(doc.xpath("//@href")).lower()
    assert "javascript" not in hrefs and "data:" not in hrefs and "vbscript" not in hrefs


def test_form_keeps_values_escaped_and_names_each_error() -> None:
    env = theme_env()
    template = env.from_string(
        '{% from "partials/comment_form.html" import comment_form with context %}'
        '{{ comment_form("probe", values=values, errors=errors, reply_to="r1") }}')
    page = template.render(
        SITEURL=SITEURL, REPLIK_INTAKE_URL="/replik/comment",
        values={"author": '"><script>alert(1)</script>', "body": "</textarea><b>x</b>",
                "consent": "yes", "email": "a@b.example"},
        errors={"email": "Diese E-Mail-Adresse <b>stimmt nicht</b>.", "body": "Zu lang."})
    doc = lxml_html.fromstring(page)
    assert not doc.xpath("//script") and not doc.xpath("//b")
    assert doc.get_element_by_id("respond-author").get("value") == '"><script>alert(1)</script>'
    assert doc.get_element_by_id("respond-body").text == "</textarea><b>x</b>"
    assert doc.get_element_by_id("respond-consent").get("checked") is not None
    email = doc.get_element_by_id("respond-email")
    assert email.get("aria-invalid") == "true"
    assert email.get("aria-describedby") == "respond-email-hint respond-email-error"
    assert text_of(doc.get_element_by_id("respond-email-error")) == (
        "Diese E-Mail-Adresse <b>stimmt nicht</b>.")
    assert doc.get_element_by_id("respond-author").get("aria-invalid") is None
    assert doc.xpath("//input[@name='reply_to']/@value") == ["r1"]
    assert doc.find_class("form-errors")[0].get("role") == "alert"


def test_english_catalog_renders_english() -> None:
    page = render_discussion([probe_entry(author="Ann", staff=True)], lang="en")
    doc = lxml_html.fromstring(page)
    assert text_of(doc.get_element_by_id("comments-title")) == "Comments (1)"
    assert text_of(doc.find_class("badge-staff")[0]) == "Staff"
    assert "January 2, 2026 at 11:00" in page
    closed = render_discussion([], lang="en", open_=False)
    assert "Comments on this post are closed." in closed


def test_every_theme_string_has_a_german_translation() -> None:
    with open(ROOT / "theme/translations/de/LC_MESSAGES/theme.po", "rb") as handle:
        catalog = read_po(handle, locale="de")
    ours = sorted(TEMPLATES.glob("*.html")) + sorted((TEMPLATES / "partials").glob("*.html"))
    ours = [p for p in ours if not p.name.startswith("replik_")]
    missing = []
    for path in ours:
        for _line, message, _comments, context in extract_from_file(
                "jinja2", str(path), options={"extensions": "jinja2.ext.i18n"}):
            msgid = message[0] if isinstance(message, tuple) else message
            found = catalog.get(msgid, context=context)
            if found is None or not found.string or not all(found.string if isinstance(
                    found.string, tuple) else [found.string]):
                missing.append(f"{path.name}: {msgid!r}")
    assert not missing, "untranslated: " + ", ".join(missing)


def test_every_page_has_landmarks_one_h1_and_a_skip_link(site: SimpleNamespace) -> None:
    pages = sorted(site.out.rglob("*.html"))
    assert len(pages) >= 20
    for path in pages:
        doc = parse(path)
        where = path.relative_to(site.out)
        assert doc.get("lang") == ("en" if where.parts[0] == "en" else "de"), where
        assert len(doc.xpath("//h1")) == 1, f"{where}: one h1 per page"
        assert doc.xpath("//main[@id='content']"), where
        assert doc.xpath("//a[@class='skip-link'][@href='#content']"), where
        assert doc.xpath("//header[contains(@class, 'site-header')]"), where
        assert doc.xpath("//footer[contains(@class, 'site-footer')]"), where
        for nav in doc.xpath("//nav"):
            assert nav.get("aria-label"), f"{where}: a nav without a label"
        labelled = set(doc.xpath("//label/@for"))
        for field in doc.xpath("//input[not(@type='hidden')] | //textarea"):
            assert field.get("id") in labelled, f"{where}: {field.get('name')} has no label"
        for image in doc.xpath("//img"):
            assert image.get("alt") is not None, f"{where}: image without alt"


# --- In a real browser: responsive layout, visible focus, hidden honeypot ----

IN_CI = os.environ.get("CI", "").lower() == "true"


def open_page(browser, site: SimpleNamespace, width: int, scheme: str = "light"):
    """A browser tab where requests to SITEURL are answered from the output folder and
    everything else is refused, so the browser never leaves this machine."""
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)

    def answer(route) -> None:
        url = route.request.url
        if not url.startswith(SITEURL + "/"):
            route.abort()
            return
        local = site.out / url.removeprefix(SITEURL + "/").split("#")[0].split("?")[0]
        if local.is_dir():
            local = local / "index.html"
        if not local.is_file():
            route.fulfill(status=404, body="not found")
            return
        kind = mimetypes.guess_type(local.name)[0] or "application/octet-stream"
        route.fulfill(status=200, body=local.read_bytes(), content_type=kind)

    page.route("**/*", answer)
    return page


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_pages_fit_the_screen_and_show_focus(browser, site: SimpleNamespace, width: int) -> None:
    article = article_page(site.out, OPEN_SLUG).relative_to(site.out).parent.as_posix() + "/"
    page = open_page(browser, site, width)
    try:
        for path in ("", article, "archives.html", "datenschutz/"):
            page.goto(f"{SITEURL}/{path}")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path or 'home'} scrolls sideways at {width}px"
            # The stylesheet is there and the body text is large enough to read.
            size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
            assert size >= 16
            # The first Tab lands on the skip link, which then becomes visible.
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.className") == "skip-link"
            box = page.locator(".skip-link").bounding_box()
            assert box and box["y"] >= 0 and box["x"] >= 0
        page.goto(f"{SITEURL}/{article}")
        page.locator(".comment-reply").first.focus()
        outline = page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()")
        assert outline[0] != "none" and outline[1] >= 2, outline
        # The honeypot is in the form but out of sight; the preview box waits hidden.
        box = page.locator("#respond-homepage").bounding_box()
        assert box is None or box["x"] + box["width"] <= 0 or box["width"] <= 1
        assert not page.locator(".comment-preview").is_visible()
        assert page.locator("#respond-author").is_visible()
    finally:
        page.close()


def test_relative_urls_give_each_page_depth_its_own_form_and_badges(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    # With RELATIVE_URLS, SITEURL is "." on the home page and "../.." on a post.
    out = tmp_path_factory.mktemp("relative") / "output"
    build_sample_site(out, RELATIVE_URLS=True, SITEURL="")
    home = (out / "index.html").read_text(encoding="utf-8")
    post = article_page(out, "antworten-bevor-es-weh-tut").read_text(encoding="utf-8")
    assert 'href="./theme/css/social.css"' in home and "../" not in home
    assert 'href="../../theme/css/social.css"' in post
    assert 'action="../../replik/comment"' in post


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_badges_keep_the_promised_contrast(browser, site: SimpleNamespace, scheme: str) -> None:
    """docs/theme.md promises text contrast of at least 6.5:1 in both schemes."""
    from a11y import contrast_of

    page = open_page(browser, site, 1280, scheme)
    try:
        page.goto(f"{SITEURL}/{article_url(site, OPEN_SLUG)}")
        for selector in (".badge-linkback", ".badge-staff", ".comment-author",
                         ".comment-linkback .comment-body"):
            assert page.locator(selector).count(), selector
            ratio = contrast_of(page, selector)
            assert ratio >= 6.5, f"{selector} in the {scheme} scheme: {ratio:.2f}:1"
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_public_pages(browser, site: SimpleNamespace,
                                                  scheme: str) -> None:
    from a11y import axe_violations, describe

    paths = {"home": "", "archives": "archives.html"}
    for slug in (OPEN_SLUG, DISCUSSION_SLUG, CLOSED_SLUG, "reply-in-the-readers-language"):
        paths[slug] = article_url(site, slug)
    page = open_page(browser, site, 1280, scheme)
    found = {}
    try:
        for name, path in paths.items():
            page.goto(f"{SITEURL}/{path}")
            found[name] = axe_violations(page)
    finally:
        page.close()
    problems = {name: describe(v) for name, v in found.items() if v}
    assert not problems, "\n".join(f"{name}:\n{text}" for name, text in problems.items())
