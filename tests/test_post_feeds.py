"""Pelican's post feeds (Atom and RSS, all posts and per category) advertise the
channels, stay valid by the W3C feed validator's rules and parse in feedparser;
the comment feeds are untouched and still parse."""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import lxml.etree
import lxml.html
import pytest
from test_social_support import build_project

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
BASE = "http://blog.test"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
CHANNELS = [
    ("Mastodon", "https://social.example/@dialogfeld"),
    ("Bluesky", "https://bsky.app/profile/dialogfeld.example"),
    ("LinkedIn", "https://www.linkedin.com/company/dialogfeld/"),
    ("YouTube", "https://www.youtube.com/@dialogfeld"),
    ("Newsletter", "https://newsletter.example/dialogfeld"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory.mktemp("feeds"))


def post_feeds(site: Path, kind: str) -> list[Path]:
    feeds = [site / "feeds" / f"all.{kind}.xml"]
    feeds += sorted((site / "feeds" / "category").glob(f"*.{kind}.xml"))
    assert all(f.is_file() for f in feeds) and len(feeds) > 1
    return feeds


def footer_words(link: str) -> str:
    """An entry's footer speaks the entry's language (the sample's English post is
    under /en/), whatever the feed's."""
    return "Follow us:" if link.startswith(f"{BASE}/en/") else "Folgen Sie uns:"


def footer_links(html: str, link: str) -> list[tuple[str, str]]:
    fragment = lxml.html.fromstring(f"<div>{html}</div>")
    footers = fragment.xpath(".//p[@class='social-feed-footer']")
    assert len(footers) == 1, "exactly one footer per entry"
    footer = footers[0]
    assert footer.getparent() is fragment and footer is fragment[-1], "the footer comes last"
    assert footer.text_content().startswith(f"{footer_words(link)} Mastodon · Bluesky · ")
    return [(a.text_content(), a.get("href")) for a in footer.xpath(".//a")]


def assert_absolute_links(html: str) -> None:
    fragment = lxml.html.fromstring(f"<div>{html}</div>")
    for element in fragment.xpath(".//*[@href or @src]"):
        url = element.get("href") or element.get("src")
        assert url.startswith(("http://", "https://", "mailto:", "#")), url


def test_atom_feeds_carry_links_and_footer(site: Path) -> None:
    for path in post_feeds(site, "atom"):
        root = lxml.etree.fromstring(path.read_bytes())
        assert root.tag == f"{ATOM}feed"
        # Required feed elements (RFC 4287 4.1.1), absolute and consistent.
        assert root.findtext(f"{ATOM}id") and root.findtext(f"{ATOM}title")
        assert RFC3339.match(root.findtext(f"{ATOM}updated"))
        links = {(link.get("rel"), link.get("href"), link.get("title"))
                 for link in root.findall(f"{ATOM}link")}
        self_links = [h for r, h, _ in links if r == "self"]
        assert self_links == [f"{BASE}/{path.relative_to(site).as_posix()}"]
        related = sorted((t, h) for r, h, t in links if r == "related")
        assert related == sorted(CHANNELS)
        entries = root.findall(f"{ATOM}entry")
        assert entries
        # Feed metadata must come before the first entry (the validator's MisplacedMetadata).
        children = [child.tag for child in root]
        first_entry = children.index(f"{ATOM}entry")
        assert set(children[first_entry:]) == {f"{ATOM}entry"}
        for entry in entries:
            assert entry.findtext(f"{ATOM}id").startswith("tag:blog.test,")
            assert entry.findtext(f"{ATOM}title").strip()
            assert RFC3339.match(entry.findtext(f"{ATOM}updated"))
            assert RFC3339.match(entry.findtext(f"{ATOM}published"))
            # No feed-level author, so every entry needs one (RFC 4287 4.1.1).
            assert entry.findtext(f"{ATOM}author/{ATOM}name").strip()
            alternate = entry.find(f"{ATOM}link[@rel='alternate']").get("href")
            assert alternate.startswith(f"{BASE}/")
            content = entry.find(f"{ATOM}content")
            assert content.get("type") == "html"
            assert footer_links(content.text, alternate) == CHANNELS
            assert_absolute_links(content.text)
            summary = entry.findtext(f"{ATOM}summary") or ""
            assert "social-feed-footer" not in summary


def test_rss_feeds_carry_links_and_footer(site: Path) -> None:
    for path in post_feeds(site, "rss"):
        root = lxml.etree.fromstring(path.read_bytes())
        channel = root.find("channel")
        assert root.get("version") == "2.0"
        assert channel.findtext("title") and channel.findtext("description")
        assert channel.findtext("link") == f"{BASE}/"
        atom_links = [(a.get("rel"), a.get("href"), a.get("title"))
                      for a in channel.findall(f"{ATOM}link")]
        assert ("self", f"{BASE}/{path.relative_to(site).as_posix()}", None) in atom_links
        assert sorted((t, h) for r, h, t in atom_links if r == "related") == sorted(CHANNELS)
        parsedate_to_datetime(channel.findtext("lastBuildDate"))
        items = channel.findall("item")
        assert items
        for item in items:
            assert item.findtext("title").strip()
            assert item.findtext("link").startswith(f"{BASE}/")
            # A tag: URI is no address to open: RSS must say so (isPermaLink defaults to
            # true, and the W3C validator flags every such item).
            guid = item.find("guid")
            assert guid.text.startswith("tag:blog.test,")
            assert guid.get("isPermaLink") == "false"
            assert parsedate_to_datetime(item.findtext("pubDate")).tzinfo is not None
            assert item.findtext(f"{DC}creator").strip()
            description = item.findtext("description")
            assert footer_links(description, item.findtext("link")) == CHANNELS
            assert_absolute_links(description)


def test_feeds_parse_cleanly_in_feedparser(site: Path) -> None:
    for kind in ("atom", "rss"):
        parsed = feedparser.parse((site / "feeds" / f"all.{kind}.xml").read_bytes())
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.feed.title == "Dialogfeld"
        assert parsed.feed.link == f"{BASE}/"
        related = [link.href for link in parsed.feed.links if link.rel == "related"]
        assert related == [href for _, href in CHANNELS]
        assert len(parsed.entries) == 6  # five German posts, one in English
        assert sum("/en/" in e.link for e in parsed.entries) == 1
        for entry in parsed.entries:
            assert entry.title and entry.author
            assert entry.link.startswith((f"{BASE}/20", f"{BASE}/en/20"))
            assert entry.published_parsed is not None
            body = entry.content[0].value if kind == "atom" else entry.description
            assert footer_words(entry.link) in body
            assert 'href="https://social.example/@dialogfeld"' in body
        dates = [e.published_parsed for e in parsed.entries]
        assert dates == sorted(dates, reverse=True)


def test_entry_ids_never_change_between_builds(site: Path, tmp_path: Path) -> None:
    again = build_project(tmp_path)
    for name in ("all.atom.xml", "all.rss.xml"):
        first = feedparser.parse((site / "feeds" / name).read_bytes())
        second = feedparser.parse((again / "feeds" / name).read_bytes())
        assert [e.id for e in first.entries] == [e.id for e in second.entries]
        assert first.feed.get("updated") == second.feed.get("updated")


def test_footer_can_be_turned_off_or_reworded(tmp_path: Path) -> None:
    off = build_project(tmp_path / "off", SOCIAL_FEED_FOOTER=False, SOCIAL_FEED_LINKS=False)
    text = (off / "feeds" / "all.atom.xml").read_text(encoding="utf-8")
    assert "social-feed-footer" not in text and 'rel="related"' not in text
    custom = build_project(tmp_path / "custom", SOCIAL_FEED_FOOTER="Mehr von uns: {links}")
    parsed = feedparser.parse((custom / "feeds" / "all.rss.xml").read_bytes())
    assert "Mehr von uns: <a href=\"https://social.example/@dialogfeld\">Mastodon</a> · " in \
        parsed.entries[0].description
    with pytest.raises(ValueError, match="SOCIAL_FEED_FOOTER .* must contain {links}"):
        build_project(tmp_path / "bad", SOCIAL_FEED_FOOTER="Folgen Sie uns!")


def test_english_footer(tmp_path: Path) -> None:
    site = build_project(tmp_path, DEFAULT_LANG="en")
    parsed = feedparser.parse((site / "feeds" / "all.atom.xml").read_bytes())
    assert "Follow us: <a href=" in parsed.entries[0].content[0].value


def test_comment_feeds_still_parse_without_footer(site: Path) -> None:
    paths = [site / "feeds" / "comments.atom.xml", site / "feeds" / "comments.rss.xml"]
    paths += sorted((site / "feeds" / "comments").glob("*.xml"))
    assert len(paths) > 2
    with_entries = 0
    for path in paths:
        raw = path.read_bytes()
        parsed = feedparser.parse(raw)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.feed.title
        assert b"social-feed-footer" not in raw and b'rel="related"' not in raw
        for entry in parsed.entries:
            assert entry.link.startswith(f"{BASE}/") and entry.published_parsed
        with_entries += bool(parsed.entries)
    assert with_entries, "the sample store has approved comments"
    updated = feedparser.parse(paths[0].read_bytes()).feed.updated
    datetime.fromisoformat(updated)
