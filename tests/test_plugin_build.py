"""The Pelican plugin in a real build: threads, counts, dates, closing, feeds."""

from __future__ import annotations

import logging
import re

import feedparser
import pytest
from lxml import html as lxml_html
from sitebuilder import add_entry, build, small_site, utc, write_conf, write_post


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    small_site(root, [("offen", "Offener Beitrag", "2010-03-01 09:00"),
                      ("zu", "Geschlossener Beitrag", "2010-02-01 09:00", "Comments: closed\n"),
                      ("alt", "Alter Beitrag", "2001-01-01 09:00")],
               REPLIK_MAX_DEPTH=3, REPLIK_CLOSE_AFTER_DAYS=3650 * 2)
    e = {}
    e["first"] = add_entry(root, "offen", "Erster *Kommentar*", utc(2010, 3, 5, 10, 47),
                           author="Anna", url="https://anna.example/", email="anna@secret.example",
                           ip="203.0.113.77", user_agent="SecretAgent/1.0")
    e["reply"] = add_entry(root, "offen", "Danke!", utc(2010, 3, 5, 12, 0), author="Redaktion",
                           reply_to=e["first"].id, staff=True)
    e["d3"] = add_entry(root, "offen", "Ebene drei", utc(2010, 3, 6, 8, 0), author="Bernd",
                        reply_to=e["reply"].id)
    e["d4"] = add_entry(root, "offen", "Ebene vier", utc(2010, 3, 6, 9, 0), author="Clara",
                        reply_to=e["d3"].id)
    e["ping"] = add_entry(root, "offen", "Sie schreiben, dass Kunden antworten.",
                          utc(2010, 4, 1, 9, 0), type="pingback", title="Ein anderer Blog",
                          source="https://other.example/post", author="Other")
    # Replies wait while what they answer is not shown: a deleted parent, a spam one.
    e["orphan"] = add_entry(root, "offen", "Waise", utc(2010, 4, 2, 9, 0), author="Wilma",
                            reply_to="20000101T000000000000Z-00000000")
    e["late"] = add_entry(root, "offen", "Spät dran", utc(2010, 4, 2, 10, 0), author="Dora")
    e["pending"] = add_entry(root, "offen", "Wartet noch", utc(2010, 4, 3, 9, 0),
                             state="pending", author="Egon")
    e["spam"] = add_entry(root, "offen", "Billige Uhren", utc(2010, 4, 3, 9, 0),
                          state="spam", author="Spammer")
    e["under_spam"] = add_entry(root, "offen", "Antwort unter Spam", utc(2010, 4, 3, 10, 0),
                                author="Redaktion", staff=True, reply_to=e["spam"].id)
    e["under_that"] = add_entry(root, "offen", "Und noch tiefer", utc(2010, 4, 3, 11, 0),
                                author="Fritz", reply_to=e["under_spam"].id)
    e["ghost"] = add_entry(root, "gibt-es-nicht", "Wohin?", utc(2010, 4, 3, 9, 0),
                           author="Geist")
    (root / "comments" / "approved" / "offen" / "20100101T000000000000Z-bad00bad.txt").write_text(
        "kaputt")
    warnings = _Collect()
    logging.getLogger("replik").addHandler(warnings)
    try:
        out = build(root)
    finally:
        logging.getLogger("replik").removeHandler(warnings)
    page = (out / "offen" / "index.html").read_text()
    return {"root": root, "out": out, "page": page, "doc": lxml_html.fromstring(page), "e": e,
            "warnings": "\n".join(warnings.messages)}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_entries_in_order_with_german_dates(site):
    doc, e = site["doc"], site["e"]
    ids = [li.get("id") for li in doc.xpath("//li[contains(@class,'entry')]")]
    assert ids == [f"comment-{e[k].id}" for k in ("first", "reply", "d3", "d4", "ping", "late")]
    first = doc.get_element_by_id(f"comment-{e['first'].id}")
    assert first.xpath(".//span[@class='date']")[0].text == "5. März 2010 um 11:47"
    assert first.xpath(".//div[@class='body']/p/em")[0].text == "Kommentar"
    assert first.xpath(".//a")[0].get("rel") == "nofollow ugc"
    # The test theme has no catalog of its own: its strings stay in the source language.
    assert "Comments (6)" in site["page"]


def test_post_dates_in_the_sites_language(site):
    assert site["doc"].xpath("string(//p[@class='posted'])") == "1. März 2010"


def test_threading_caps_depth(site):
    doc, e = site["doc"], site["e"]

    def depth(key):
        return doc.get_element_by_id(f"comment-{site['e'][key].id}").get("class")

    assert "depth-1" in depth("first") and "depth-2" in depth("reply")
    assert "depth-3" in depth("d3")
    assert "depth-3" in depth("d4")  # deeper than REPLIK_MAX_DEPTH: attached at the deepest level
    d4 = doc.get_element_by_id(f"comment-{e['d4'].id}")
    assert d4.getparent().getparent().get("id") == f"comment-{e['reply'].id}"
    assert "depth-1" in depth("late")


def test_replies_wait_while_their_parent_is_not_shown(site):
    # Not at the top level, not in the count, not in any feed: hidden until the parent
    # is approved (a deleted parent never comes back).
    for key in ("orphan", "under_spam", "under_that"):
        assert f"comment-{site['e'][key].id}" not in site["page"]
    feeds = b"".join(p.read_bytes() for p in (site["out"] / "feeds").rglob("*.xml"))
    for text in ("Waise", "Antwort unter Spam", "Und noch tiefer"):
        assert text.encode() not in feeds and text not in site["page"]
    assert site["e"]["under_that"].id in site["warnings"]


def test_staff_and_linkbacks(site):
    doc, e = site["doc"], site["e"]
    assert "staff" in doc.get_element_by_id(f"comment-{e['reply'].id}").get("class")
    ping = doc.get_element_by_id(f"comment-{e['ping'].id}")
    assert "type-pingback" in ping.get("class")
    link = ping.xpath(".//span[@class='author']/a")[0]
    assert (link.text, link.get("href")) == ("Ein anderer Blog", "https://other.example/post")
    assert ping.xpath("string(.//div[@class='body'])") == (
        "[…] Sie schreiben, dass Kunden antworten. […]")


def test_pending_spam_and_private_fields_never_reach_output(site):
    everything = "".join(p.read_text(errors="replace") for p in site["out"].rglob("*")
                         if p.is_file())
    for secret in ("Wartet noch", "Billige Uhren", "anna@secret.example", "203.0.113.77",
                   "SecretAgent"):
        assert secret not in everything


def test_comment_counts_on_the_index(site):
    index = lxml_html.fromstring((site["out"] / "index.html").read_text())
    counts = {p.get("data-slug"): p.text.rsplit(": ", 1)[1] for p in index.xpath("//p")}
    assert counts == {"offen": "6", "zu": "0", "alt": "0"}  # the waiting replies not counted


def test_closed_by_metadata_and_by_age(site):
    assert site["doc"].xpath("//form[@class='comment-form']")
    for slug in ("zu", "alt"):
        page = (site["out"] / slug / "index.html").read_text()
        assert 'class="closed"' in page and "comment-form" not in page


def test_bad_files_and_unknown_articles_warn_but_build(site):
    text = site["warnings"]
    assert "20100101T000000000000Z-bad00bad.txt" in text
    assert "gibt-es-nicht" in text
    assert "20000101T000000000000Z-00000000" in text


def test_comment_feeds(site):
    out, e = site["out"], site["e"]
    for name in ("offen.atom.xml", "offen.rss.xml"):
        feed = feedparser.parse((out / "feeds" / "comments" / name).read_bytes())
        assert not feed.bozo, feed.bozo_exception
        assert len(feed.entries) == 6
        newest = feed.entries[0]
        assert newest.link == f"http://blog.test/offen/#comment-{e['late'].id}"
        assert newest.author == "Dora"
        assert feed.entries[-1].link.endswith(f"#comment-{e['first'].id}")
    atom = feedparser.parse((out / "feeds" / "comments" / "offen.atom.xml").read_bytes())
    assert atom.feed.title == "Kommentare zu „Offener Beitrag“"
    assert atom.feed.updated.startswith("2010-04-02")
    latest = feedparser.parse((out / "feeds" / "comments.atom.xml").read_bytes())
    assert len(latest.entries) == 6
    empty = feedparser.parse((out / "feeds" / "comments" / "zu.rss.xml").read_bytes())
    assert not empty.bozo and empty.entries == []
    raw = b"".join(p.read_bytes() for p in (out / "feeds").rglob("*.xml"))
    assert b"anna@secret.example" not in raw and b"203.0.113.77" not in raw


def test_feeds_are_reproducible(site):
    before = {p: p.read_bytes() for p in (site["out"] / "feeds").rglob("*.xml")}
    build(site["root"])
    after = {p: p.read_bytes() for p in (site["out"] / "feeds").rglob("*.xml")}
    assert before == after


def test_pages_show_their_threads_read_only(tmp_path):
    from sitebuilder import ROOT

    write_post(tmp_path, "beitrag", "Beitrag", "2010-03-01 09:00")
    pages = tmp_path / "content" / "pages"
    pages.mkdir(parents=True)
    (pages / "ueber.md").write_text("Title: Über uns\nSlug: ueber\n\nWir sind das Team.\n")
    (pages / "leer.md").write_text("Title: Leer\nSlug: leer\n\nOhne Kommentare.\n")
    write_conf(tmp_path, THEME=str(ROOT / "theme"), PAGE_URL="{slug}/",
               PAGE_SAVE_AS="{slug}/index.html")
    entry = add_entry(tmp_path, "ueber", "Schöne Seite!", utc(2010, 3, 5, 10, 47),
                      author="Anna")
    collect = _Collect()
    logging.getLogger("replik").addHandler(collect)
    try:
        out = build(tmp_path)
    finally:
        logging.getLogger("replik").removeHandler(collect)
    doc = lxml_html.fromstring((out / "ueber" / "index.html").read_text())
    node = doc.get_element_by_id(f"comment-{entry.id}")
    assert "Schöne Seite!" in node.text_content()
    assert not doc.xpath("//form[@id='respond']")  # the form is for posts
    assert not doc.xpath("//a[contains(@class,'comment-reply')]")
    assert 'id="comments"' not in (out / "leer" / "index.html").read_text()
    assert not any("unknown article" in m for m in collect.messages)


def test_article_feeds_hold_the_newest_entries_up_to_the_setting(tmp_path):
    small_site(tmp_path, [("viel", "Viel los", "2010-03-01 09:00")], REPLIK_FEED_ARTICLE_COUNT=2)
    made = [add_entry(tmp_path, "viel", f"Nummer {n}", utc(2010, 3, 5, 10, n), author=f"L{n}")
            for n in range(5)]
    out = build(tmp_path)
    for name in ("viel.atom.xml", "viel.rss.xml"):
        feed = feedparser.parse((out / "feeds" / "comments" / name).read_bytes())
        assert [x.link.rsplit("#comment-", 1)[1] for x in feed.entries] == [
            made[4].id, made[3].id]
    # The page shows the whole thread; the site-wide feed has its own count.
    assert all(f"comment-{e.id}" in (out / "viel" / "index.html").read_text() for e in made)
    latest = feedparser.parse((out / "feeds" / "comments.atom.xml").read_bytes())
    assert len(latest.entries) == 5


def test_lazy_thread_builds_on_use_and_again_after_release(caplog):
    from replik.store import Entry
    from replik.thread import LazyThread, ThreadView

    def entry(n, reply_to=""):
        return Entry(id=f"2010030{n}T100000000000Z-0000000{n}", article="a", body=f"Text {n}",
                     date=utc(2010, 3, n, 10, 0), author=f"A{n}", reply_to=reply_to)

    thread = LazyThread([entry(2, entry(1).id), entry(1), entry(3, "20000101T000000000000Z-00000000")],
                        origin="test/")
    top, flat = ThreadView(thread, flat=False), ThreadView(thread, flat=True)
    assert len(flat) == 3 and bool(top) and not thread.built  # counting builds nothing
    with caplog.at_level(logging.WARNING, logger="replik"):
        assert [n.author for n in flat] == ["A1", "A2", "A3"]
        assert [n.author for n in top] == ["A1", "A3"] and top[0].children[0].author == "A2"
        assert thread.built
        first = flat[0]
        thread.release()
        assert not thread.built and first.children == [] and first.parent is None
        assert [n.author for n in flat] == ["A1", "A2", "A3"]  # built again
    # The orphan is reported once, not at every rebuild.
    assert caplog.text.count("20000101T000000000000Z-00000000") == 1


def test_build_reads_texts_per_thread_and_drops_them_after(tmp_path, caplog):
    from replik.store import Store
    from replik.thread import LazyThread

    first = add_entry(tmp_path, "a", "Erster Text", utc(2010, 3, 5, 10, 0), author="Anna")
    add_entry(tmp_path, "a", "Zweiter Text", utc(2010, 3, 5, 11, 0), author="Bernd")
    store = Store(tmp_path / "comments")
    entries = store.approved_by_article(public_only=True, bodies=False)["a"]
    assert [e.body for e in entries] == ["", ""] and all(e.email == "" for e in entries)
    thread = LazyThread(entries, origin="t/", store=store, slug="a")
    top, flat = thread.build()
    assert "Erster Text" in str(flat[0].html) and "Zweiter Text" in str(flat[1].html)
    thread.release()
    assert [e.body for e in thread.entries] == ["", ""]
    # One entry's text on its own (the site-wide feed), without touching the thread's.
    assert thread.with_body(thread.entries[0]).body == "Erster Text"
    assert thread.entries[0].body == ""
    # A file gone since the store was read shows empty, with a warning, not a crash.
    (store.root / "approved" / "a" / f"{first.id}.txt").unlink()
    with caplog.at_level("WARNING"):
        assert str(thread.build()[1][0].html) == ""
    assert f"t/{first.id} could not be read again" in caplog.text
    assert "Zweiter Text" in str(thread.build()[1][1].html)


def test_a_post_in_english_gets_an_english_discussion(tmp_path):
    from sitebuilder import ROOT

    small_site(tmp_path, [("deutsch", "Ein Beitrag", "2010-03-01 09:00"),
                          ("english", "A post", "2010-03-02 09:00", "Lang: en\n")],
               theme=ROOT / "theme", TIMEZONE="UTC")
    add_entry(tmp_path, "deutsch", "Gut!", utc(2010, 3, 5, 11, 47), author="Anna")
    add_entry(tmp_path, "english", "Good!", utc(2010, 3, 5, 11, 47), author="Ann")
    out = build(tmp_path)
    english = lxml_html.fromstring((out / "english-en.html").read_bytes())
    german = lxml_html.fromstring((out / "deutsch" / "index.html").read_bytes())
    assert english.get("lang") == "en" and german.get("lang") == "de"
    assert english.get_element_by_id("comments-title").text_content() == "Comments (1)"
    assert german.get_element_by_id("comments-title").text_content() == "Kommentare (1)"
    assert "March 5, 2010 at 11:47" in english.find_class("comment-date")[0].text_content()
    assert "5. März 2010 um 11:47" in german.find_class("comment-date")[0].text_content()
    assert english.find_class("comment-reply")[0].text_content().startswith("Reply")
    assert "Post comment" in english.get_element_by_id("respond").text_content()
    assert "Kommentar abschicken" in german.get_element_by_id("respond").text_content()
    feed = feedparser.parse((out / "feeds" / "comments" / "english.atom.xml").read_bytes())
    assert feed.feed.title == "Comments on A post" and feed.entries[0].title == "Ann on A post"
    german_feed = feedparser.parse((out / "feeds" / "comments" / "deutsch.atom.xml").read_bytes())
    assert german_feed.feed.title == "Kommentare zu „Ein Beitrag“"
    # A listing shows posts of both languages in the site's language.
    index = lxml_html.fromstring((out / "index.html").read_bytes())
    assert index.get("lang") == "de"
    assert "1 Kommentar" in index.text_content() and "1 comment" not in index.text_content()


def test_drafts_and_hidden_posts_link_to_no_comment_feed_the_build_does_not_write(tmp_path):
    from sitebuilder import ROOT

    small_site(tmp_path, [("da", "Veröffentlicht", "2010-03-01 09:00"),
                          ("entwurf", "Entwurf", "2010-03-02 09:00", "Status: draft\n"),
                          ("versteckt", "Versteckt", "2010-03-03 09:00", "Status: hidden\n")],
               theme=ROOT / "theme")
    out = build(tmp_path)
    pages = {p: p.read_text() for p in out.rglob("*.html")}
    assert len([p for p in pages if "entwurf" in str(p) or "versteckt" in str(p)]) == 2
    linked = {path for page in pages.values()
              for path in re.findall(r'http://blog\.test/(feeds/comments/[^"]+)"', page)}
    assert "feeds/comments/da.atom.xml" in linked
    assert [path for path in linked if not (out / path).is_file()] == []
