"""Channel configuration, icons, follower-count ages and wording, SVG badge text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.etree
import pytest
from test_social_support import ROOT, write_counts

from replik.i18n import translations_for
from replik.settings import Settings
from social_badges.channels import ChannelConfigError, parse_channels, with_defaults
from social_badges.counts import (
    CountsFileError,
    current_count,
    followers_text,
    read_counts,
    short_number,
)
from social_badges.icons import IconError, bundled, bundled_names, parse_icon
from social_badges.svgbadge import contrast, icon_colors, readable_background, render_badge


def settings(tmp_path: Path, channels: list, **extra: object) -> dict:
    return with_defaults({"SOCIAL_CHANNELS": channels, "PATH": str(tmp_path / "content"),
                          "SITEURL": "https://blog.test", "FEED_ALL_ATOM": "feeds/all.atom.xml",
                          "THEME": str(ROOT / "theme"), "DEFAULT_LANG": "de", **extra})


def test_every_known_network_from_its_handle(tmp_path: Path) -> None:
    channels = parse_channels(settings(tmp_path, [
        {"network": "mastodon", "handle": "@Firma@Social.Example"},
        {"network": "bluesky", "handle": "@firma.bsky.social"},
        {"network": "x", "handle": "@firma_de"},
        {"network": "linkedin", "handle": "company/firma-gmbh"},
        {"network": "youtube", "handle": "@firma"},
        {"network": "facebook", "handle": "firma.de"},
        {"network": "instagram", "handle": "firma.de"},
        {"network": "threads", "handle": "@firma.de"},
        {"network": "rss"},
        {"network": "newsletter", "url": "https://news.example/anmelden"},
    ]))
    urls = {c.name: c.url for c in channels}
    assert urls == {
        "mastodon": "https://social.example/@Firma",
        "bluesky": "https://bsky.app/profile/firma.bsky.social",
        "x": "https://x.com/firma_de",
        "linkedin": "https://www.linkedin.com/company/firma-gmbh/",
        "youtube": "https://www.youtube.com/@firma",
        "facebook": "https://www.facebook.com/firma.de",
        "instagram": "https://www.instagram.com/firma.de/",
        "threads": "https://www.threads.net/@firma.de",
        "rss": "https://blog.test/feeds/all.atom.xml",
        "newsletter": "https://news.example/anmelden",
    }
    mastodon = channels[0]
    assert mastodon.handle == "@Firma@social.example"
    assert mastodon.lookup == ("mastodon", "https://social.example|Firma")
    assert channels[1].lookup == ("bluesky", "firma.bsky.social")
    assert all(c.lookup is None for c in channels[2:])
    assert [c.label for c in channels][:3] == ["Mastodon", "Bluesky", "X"]


@pytest.mark.parametrize(("channel", "message"), [
    ("mastodon", r"SOCIAL_CHANNELS\[0\] must be a dict"),
    ({"handle": "@a@b.example"}, r"SOCIAL_CHANNELS\[0\] \(no network\): network is missing"),
    ({"network": "myspace", "url": "https://myspace.example/x"},
     r"\(myspace\): unknown network 'myspace'; use one of mastodon, bluesky"),
    ({"network": "newsletter"}, r"\(newsletter\): the URL is missing; give its url"),
    ({"network": "x"}, r"\(x\): the URL is missing; give its handle \(@name"),
    ({"network": "mastodon", "handle": "@firma"},
     r"handle '@firma' is not a valid Mastodon handle \(expected @name@server.example\)"),
    ({"network": "bluesky", "handle": "firma"}, r"not a valid Bluesky handle"),
    ({"network": "x", "handle": "@viel_zu_lang_fuer_x_1"}, r"not a valid X handle"),
    ({"network": "youtube", "handle": "firma"}, r"not a valid YouTube handle"),
    ({"network": "rss", "handle": "@feed"}, r"a rss channel has no handle; give its url"),
    ({"network": "newsletter", "url": "javascript:alert(1)"},
     r"url 'javascript:alert\(1\)' is not an absolute http\(s\) URL"),
    ({"network": "newsletter", "url": "/newsletter"}, r"is not an absolute http\(s\) URL"),
    ({"network": "newsletter", "url": 'https://n.example/"><script>'},
     r"contains characters not allowed"),
    ({"network": "x", "handle": "@firma", "handel": "x"}, r"\(x\): unknown key\(s\) handel"),
    ({"network": "x", "handle": "@firma", "name": "X Kanal"}, r"name 'X Kanal' must be"),
    ({"network": "x", "handle": "@firma", "followers": 5},
     r"followers needs followers_date"),
    ({"network": "x", "handle": "@firma", "followers": -1, "followers_date": "2026-01-01"},
     r"followers must be a whole number"),
    ({"network": "x", "handle": "@firma", "followers": 5, "followers_date": "gestern"},
     r"followers_date 'gestern' is not a date"),
    ({"network": "custom", "label": "Pixelfed", "url": "https://pixelfed.example/firma"},
     r"\(custom\): a custom channel needs an icon"),
    ({"network": "x", "handle": "@firma", "color": "red"}, r"color 'red' is not of the form"),
])
def test_bad_channels_are_named_with_what_to_do(tmp_path: Path, channel: object,
                                                message: str) -> None:
    with pytest.raises(ChannelConfigError, match=message):
        parse_channels(settings(tmp_path, [channel]))


def test_duplicate_names_and_the_fix(tmp_path: Path) -> None:
    two = [{"network": "mastodon", "handle": "@a@one.example"},
           {"network": "mastodon", "handle": "@b@two.example"}]
    with pytest.raises(ChannelConfigError, match=r"SOCIAL_CHANNELS\[1\] \(mastodon\): the name "
                       r"'mastodon' is already used by SOCIAL_CHANNELS\[0\]"):
        parse_channels(settings(tmp_path, two))
    two[1]["name"] = "mastodon-2"
    assert [c.name for c in parse_channels(settings(tmp_path, two))] == ["mastodon", "mastodon-2"]


def test_custom_channel_with_its_own_icon(tmp_path: Path) -> None:
    (tmp_path / "icons").mkdir()
    (tmp_path / "icons" / "pixelfed.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><title>P</title>'
        '<g fill-rule="evenodd"><circle cx="16" cy="16" r="15"/></g></svg>')
    [channel] = parse_channels(settings(tmp_path, [{
        "network": "custom", "name": "pixelfed", "label": "Pixelfed",
        "url": "https://pixelfed.example/firma", "icon": "icons/pixelfed.svg",
        "color": "#6366f1"}]))
    assert channel.icon.view_box == "0 0 32 32" and channel.icon.color == "#6366F1"
    assert channel.icon.body == '<g fill-rule="evenodd"><circle cx="16" cy="16" r="15"></circle></g>'
    inline = str(channel.icon.inline())
    assert 'aria-hidden="true"' in inline and 'focusable="false"' in inline


@pytest.mark.parametrize(("svg", "message"), [
    ('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "<script> is not allowed"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0" onclick="x()"/></svg>',
     "attribute 'onclick'"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0" fill="url(https://e.x/a)"/></svg>',
     "may not reference"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><image href="https://e.example/a.png"/></svg>',
     "<image> is not allowed"),
    ('<!DOCTYPE svg [<!ENTITY a "b">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
     "not a well-formed SVG"),
    ("<html></html>", "root element must be <svg>"),
    ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 x 24"><path d="M0 0"/></svg>',
     "viewBox"),
    ('<svg xmlns="http://www.w3.org/2000/svg"></svg>', "no shapes"),
])
def test_icons_pass_an_allowlist(svg: str, message: str) -> None:
    with pytest.raises(IconError, match=message):
        parse_icon(svg.encode(), "icon file test.svg")


def test_bundled_icons_are_all_clean() -> None:
    names = bundled_names()
    assert {"mastodon", "bluesky", "x", "linkedin", "youtube", "facebook", "instagram",
            "threads", "rss", "newsletter", "comments"} <= set(names)
    for name in names:
        icon = bundled(name)
        assert icon.body.startswith("<path") and icon.color.startswith("#")


@pytest.mark.parametrize(("count", "lang", "expected"), [
    (1, "de", "1 Follower"), (1086, "de", "1.086 Follower"), (9999, "de", "9.999 Follower"),
    (12345, "de", "12,3\xa0Tsd. Follower"), (120000, "de", "120\xa0Tsd. Follower"),
    (1234567, "de", "1,2\xa0Mio. Follower"),
    (1, "en", "1 follower"), (1086, "en", "1,086 followers"),
    (12345, "en", "12.3K followers"), (1234567, "en", "1.2M followers"),
])
def test_follower_counts_in_the_sites_language(count: int, lang: str, expected: str) -> None:
    translations = translations_for(Settings(theme=str(ROOT / "theme")), lang)
    assert followers_text(count, lang, 10_000, translations) == expected


def test_short_numbers_only_from_the_threshold() -> None:
    identity = str
    assert short_number(12345, "de", 100_000, identity) == "12.345"
    assert short_number(12345, "de", 10_000, lambda s: s) == "12,3 K"


def test_old_or_missing_counts_are_left_out(tmp_path: Path) -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    path = write_counts(tmp_path / "c.json", {
        "mastodon": (1086, now - timedelta(days=29)),
        "bluesky": (50, now - timedelta(days=31)),
        "x": (7, now + timedelta(days=2)),  # from the future: a wrong clock, not shown
    })
    counts = read_counts(path)
    channels = {c.name: c for c in parse_channels(settings(tmp_path, [
        {"network": "mastodon", "handle": "@a@b.example"},
        {"network": "bluesky", "handle": "a.example"},
        {"network": "x", "handle": "@a"},
        {"network": "youtube", "handle": "@aaa"},
        {"network": "linkedin", "handle": "company/ab", "followers": 10,
         "followers_date": "2026-11-20"},
    ]))}
    assert current_count(channels["mastodon"], counts, 30, now) == 1086
    assert current_count(channels["bluesky"], counts, 30, now) is None
    assert current_count(channels["x"], counts, 30, now) is None
    assert current_count(channels["youtube"], counts, 30, now) is None
    assert current_count(channels["linkedin"], counts, 30, now) == 10
    assert current_count(channels["linkedin"], counts, 3, now) is None


def test_counts_file_entries_that_are_malformed_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"version": 1, "channels": {"a": {"followers": "12", "fetched": '
                    '"2026-11-01T00:00:00+00:00"}, "b": {"followers": 3, "fetched": "nie"},'
                    ' "c": {"followers": 4, "fetched": "2026-11-01T00:00:00"}, "d": []}}')
    counts = read_counts(path)
    assert list(counts) == ["c"] and counts["c"]["fetched"].tzinfo is UTC
    assert read_counts(tmp_path / "missing.json") == {}
    path.write_text("{")
    with pytest.raises(CountsFileError, match="not readable JSON"):
        read_counts(path)


def test_badge_svg_escapes_text_and_keeps_contrast() -> None:
    svg = render_badge("A&B <x>", "1.086 Follower", bundled("bluesky"), "#1185FE")
    root = lxml.etree.fromstring(svg.encode())
    assert root.findtext("{http://www.w3.org/2000/svg}title") == "A&B <x>: 1.086 Follower"
    fills = [r.get("fill") for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    background = fills[2]
    assert contrast(background, "#FFFFFF") >= 4.5
    assert readable_background("#000000") == "#000000"
    assert contrast(readable_background("#FFA500"), "#FFFFFF") >= 4.5
    wide = render_badge("Mastodon", "1.086.000 Follower", None, "#6364FF")
    narrow = render_badge("Mastodon", "1", None, "#6364FF")
    assert float(lxml.etree.fromstring(wide.encode()).get("width")) > \
        float(lxml.etree.fromstring(narrow.encode()).get("width"))


@pytest.mark.parametrize("brand", ["#000000", "#FFA500", "#6364FF", "#FFE01B", "#FFFFFF"])
def test_icon_colours_stand_out_on_light_and_dark_pages(brand: str) -> None:
    light, dark = icon_colors(brand)
    assert contrast(light, "#FFFFFF") >= 3.0
    assert contrast(dark, "#181715") >= 3.0
    if contrast(brand, "#FFFFFF") >= 3.0:
        assert light == brand, "a colour that is fine stays the brand's own"
