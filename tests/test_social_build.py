"""The real project built with Pelican: badges on the homepage, every page and each
article, the standalone SVG badge files and the channels page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.etree
import lxml.html
import pytest
from test_social_support import build_project, css, write_counts

from social_badges.channels import ChannelConfigError

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory.mktemp("social-de"))


def page(path: Path) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(path.read_text(encoding="utf-8"))


def article_pages(site: Path) -> list[Path]:
    pages = sorted(p for p in site.glob("20*/*/index.html"))
    assert pages, "the sample content has articles"
    return pages


def test_homepage_shows_badges_with_german_counts(site: Path) -> None:
    home = page(site / "index.html")
    badges = css(home, ".social-home .social-badge")
    names = [css(b, ".social-badge-label")[0].text_content() for b in badges]
    assert names == ["Mastodon", "Bluesky", "LinkedIn", "YouTube", "RSS-Feed", "Newsletter"]
    counts = {css(b, ".social-badge-label")[0].text_content():
              [c.text_content() for c in css(b, ".social-badge-count")] for b in badges}
    assert counts["Mastodon"] == ["1.086 Follower"]
    assert counts["Bluesky"] == ["12,3\xa0Tsd. Follower"]
    # Too old (90 days) and missing counts are left out, not shown wrong.
    assert counts["LinkedIn"] == [] and counts["YouTube"] == []
    assert "987" not in home.text_content()
    cta = css(badges[0], ".social-badge-cta")[0].text_content()
    assert cta == "Folgen Sie uns auf Mastodon"
    assert css(badges[1], ".social-badge-cta")[0].text_content() == \
        "Folgen Sie uns auf Bluesky"


def test_every_channel_link_is_rel_me_with_a_text_name(site: Path) -> None:
    home = page(site / "index.html")
    links = css(home, ".social-compact a.social-link") + css(home, ".social-home a.social-badge")
    channel_links = [a for a in links if "social-more-link" not in a.get("class")]
    assert len(channel_links) == 12
    for link in channel_links:
        assert "me" in link.get("rel").split()
        assert link.get("href").startswith(("https://", "http://"))
        assert link.text_content().strip(), "every link has a text name"
        for svg in css(link, "svg"):
            assert svg.get("aria-hidden") == "true"
    hrefs = [a.get("href") for a in channel_links[:6]]
    assert hrefs[0] == "https://social.example/@dialogfeld"
    assert hrefs[1] == "https://bsky.app/profile/dialogfeld.example"
    assert hrefs[4] == "http://blog.test/feeds/all.atom.xml"


def test_compact_row_on_every_page(site: Path) -> None:
    pages = [p for p in site.rglob("*.html") if "theme" not in p.parts]
    assert len(pages) > 10
    for path in pages:
        html = path.read_text(encoding="utf-8")
        assert 'class="social social-compact"' in html, path
        assert "/theme/css/social.css" in html, path


def test_each_article_ends_with_channels_and_feeds(site: Path) -> None:
    for path in article_pages(site):
        doc = page(path)
        aside = css(doc, ".post-footer .social-article")
        assert len(aside) == 1, path
        text = aside[0].text_content()
        assert "Mastodon" in text and "1.086 Follower" in text
        feed_links = [a.get("href") for a in css(aside[0], ".social-feed")]
        slug = path.parent.name
        assert "http://blog.test/feeds/all.atom.xml" in feed_links
        assert f"http://blog.test/feeds/comments/{slug}.atom.xml" in feed_links
        for link in css(aside[0], "a.social-link"):
            if "social-feed" not in link.get("class"):
                assert link.get("rel") == "me"


def test_counts_and_words_follow_each_pages_language(site: Path) -> None:
    """The English post's page counts in English (the German ones in German); the
    SVG badges, one file for every page, stay in the site's language."""
    english = page(site / "en" / "2026" / "reply-in-the-readers-language" / "index.html")
    german = page(article_pages(site)[0])
    for doc, count, feed in ((english, "1,086 followers", "Post feed"),
                             (german, "1.086 Follower", "Feed der Beiträge")):
        compact = [s.text_content() for s in css(doc, ".social-compact .social-sr")]
        assert f"Mastodon: {count}" in compact
        aside = css(doc, ".post-footer .social-article")[0]
        assert count in [c.text_content() for c in css(aside, ".social-count")]
        assert feed in [n.text_content() for n in css(aside, ".social-feed .social-name")]
    assert "12.3K followers" in english.text_content()
    assert "Follower" not in english.text_content()
    svg = (site / "badges" / "mastodon.svg").read_text(encoding="utf-8")
    assert "1.086 Follower" in svg


def test_badge_files_are_well_formed_svg_with_counts(site: Path) -> None:
    badges = site / "badges"
    names = sorted(p.stem for p in badges.glob("*.svg"))
    assert names == ["bluesky", "feed-comments", "feed-posts", "linkedin", "mastodon",
                     "newsletter", "rss", "youtube"]
    expected = {
        "mastodon": "Mastodon: 1.086 Follower",
        "bluesky": "Bluesky: 12,3\xa0Tsd. Follower",
        "linkedin": "LinkedIn: dialogfeld",
        "youtube": "YouTube: @dialogfeld",
        "newsletter": "Newsletter: abonnieren",
        "rss": "RSS-Feed: abonnieren",
        "feed-posts": "Feed: Beiträge",
        "feed-comments": "Feed: Kommentare",
    }
    for path in badges.glob("*.svg"):
        root = lxml.etree.fromstring(path.read_bytes())  # raises on malformed XML
        assert root.tag == f"{SVG}svg"
        assert float(root.get("width")) > 40 and root.get("height") == "20"
        title = root.find(f"{SVG}title").text
        assert root.get("role") == "img" and root.get("aria-label") == title
        if path.stem in expected:
            assert title == expected[path.stem], path.name
        texts = [t.text for t in root.iter(f"{SVG}text")]
        assert title.split(": ", 1)[1] in texts
        assert not list(root.iter(f"{SVG}script"))


def test_channels_page_lists_embed_snippets(site: Path) -> None:
    path = site / "channels" / "index.html"
    html = path.read_text(encoding="utf-8")
    doc = lxml.html.fromstring(html)
    assert css(doc, "h1")[0].text_content() == "Unsere Kanäle"
    snippets = [c.text_content() for c in css(doc, ".social-snippet code")]
    assert ('<a href="https://social.example/@dialogfeld" rel="me"><img src="http://blog.test/'
            'badges/mastodon.svg" alt="Mastodon: 1.086 Follower" height="20"></a>') in snippets
    assert ("[![Mastodon: 1.086 Follower](http://blog.test/badges/mastodon.svg)]"
            "(https://social.example/@dialogfeld)") in snippets
    # Snippets are shown as text, never as live markup.
    assert "&lt;a href=&#34;https://social.example/@dialogfeld&#34;" in html or \
        "&lt;a href=&quot;https://social.example/@dialogfeld&quot;" in html
    previews = [img.get("src") for img in css(doc, ".social-preview img")]
    assert "http://blog.test/badges/feed-comments.svg" in previews
    home = page(site / "index.html")
    assert css(home, ".social-more a")[0].get("href") == "http://blog.test/channels/"


def test_english_site_formats_counts_in_english(tmp_path: Path) -> None:
    site = build_project(tmp_path, DEFAULT_LANG="en", SOCIAL_CHANNELS=[
        {"network": "mastodon", "handle": "@dialogfeld@social.example"},
        {"network": "bluesky", "handle": "dialogfeld.example"},
    ])
    home = page(site / "index.html")
    counts = [c.text_content() for c in css(home, ".social-badge-count")]
    assert counts == ["1,086 followers", "12.3K followers"]
    ctas = [c.text_content() for c in css(home, ".social-badge-cta")]
    assert ctas == ["Follow us on Mastodon", "Follow us on Bluesky"]
    svg = lxml.etree.fromstring((site / "badges" / "bluesky.svg").read_bytes())
    assert svg.find(f"{SVG}title").text == "Bluesky: 12.3K followers"


def test_broken_counts_file_never_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "social_counts.json").write_text("{not json", encoding="utf-8")
    site = build_project(tmp_path, counts=False)
    home = page(site / "index.html")
    assert css(home, ".social-home .social-badge")
    assert css(home, ".social-badge-count") == []


def test_count_from_configuration_needs_a_recent_date(tmp_path: Path) -> None:
    write_counts(tmp_path / "social_counts.json", {})
    recent = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    site = build_project(tmp_path, counts=False, SOCIAL_CHANNELS=[
        {"network": "youtube", "handle": "@dialogfeld", "followers": 845,
         "followers_date": recent},
        {"network": "linkedin", "handle": "company/dialogfeld", "followers": 2310,
         "followers_date": "2020-01-01"},
    ])
    counts = [c.text_content() for c in css(page(site / "index.html"), ".social-badge-count")]
    assert counts == ["845 Follower"]


@pytest.mark.parametrize(("channel", "message"), [
    ({"network": "myspace", "handle": "@x"}, r"SOCIAL_CHANNELS\[0\] \(myspace\): unknown network"),
    ({"network": "newsletter"}, r"SOCIAL_CHANNELS\[0\] \(newsletter\): the URL is missing"),
    ({"network": "mastodon", "handle": "dialogfeld"},
     r"SOCIAL_CHANNELS\[0\] \(mastodon\): handle 'dialogfeld' is not a valid Mastodon handle"),
])
def test_bad_channel_fails_the_build_naming_the_channel(
        tmp_path: Path, channel: dict, message: str) -> None:
    with pytest.raises(ChannelConfigError, match=message):
        build_project(tmp_path, SOCIAL_CHANNELS=[channel])
    assert not (tmp_path / "output" / "index.html").exists()


def test_no_channels_no_social_markup(tmp_path: Path) -> None:
    site = build_project(tmp_path, SOCIAL_CHANNELS=[])
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "social-home" not in html and "social-compact" not in html
    assert "social-article" not in (article_pages(site)[0]).read_text(encoding="utf-8")


def test_relative_urls_for_a_local_preview(tmp_path: Path) -> None:
    site = build_project(tmp_path, SITEURL="", FEED_DOMAIN="", RELATIVE_URLS=True)
    article = article_pages(site)[0]
    doc = page(article)
    sheets = [link.get("href") for link in doc.xpath("//link[@rel='stylesheet']")]
    assert "../../theme/css/social.css" in sheets
    more = css(doc, ".social-compact a.social-more-link")[0].get("href")
    assert more == "../../channels/"
    assert (article.parent / more / "index.html").resolve().is_file()
