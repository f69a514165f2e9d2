"""TrackBack pings (form POST, XML answer) against the app on loopback, verified."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import httpx
import pytest
from linkback_support import plain_post, running_blog, source_site


@pytest.fixture
def blog(tmp_path):
    with running_blog(tmp_path) as running:
        yield running


@pytest.fixture
def sources():
    with source_site() as site:
        yield site


def ping(blog, slug: str, **fields: str) -> tuple[int, str, httpx.Response]:
    url = f"{blog.url('REPLIK_TRACKBACK_URL')}/{slug}"
    response = httpx.post(url, data=fields, timeout=10)
    assert response.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "response"
    return int(root.findtext("error")), root.findtext("message") or "", response


def test_a_verified_trackback_waits_for_moderation(blog, sources):
    target = blog.permalink("offene-debatte")
    source = sources.add("/tb", plain_post(target, title="Gelesen und gedacht"))
    error, message, response = ping(blog, "offene-debatte", url=source, title="Titel im Ping",
                                    excerpt="Ein Auszug", blog_name="Bens Blog")
    assert (error, message) == (0, "")
    assert response.status_code == 200
    [entry] = blog.entries("pending")
    assert entry.type == "trackback"
    assert entry.title == "Gelesen und gedacht"
    assert entry.author == "Bens Blog"
    assert entry.source == source
    assert "die offene Debatte" in entry.body


@pytest.mark.parametrize("slug, fields, expected", [
    ("offene-debatte", {"title": "ohne url"}, "url field is required"),
    ("offene-debatte", {"url": "javascript:alert(1)"}, "http or https"),
    ("gibt-es-nicht", {"url": "http://localhost/p"}, "no article"),
    ("geschlossen", {"url": "http://localhost/p"}, "closed"),
])
def test_bad_pings_get_error_1(blog, slug, fields, expected):
    error, message, _ = ping(blog, slug, **fields)
    assert error == 1
    assert expected in message
    assert blog.entries("pending") == []


def test_the_url_must_link_to_the_post(blog, sources):
    source = sources.add("/kein-link", plain_post(blog.permalink("geschlossen")))
    error, message, _ = ping(blog, "offene-debatte", url=source, blog_name="Spam")
    assert error == 1
    assert "does not link" in message
    assert blog.entries("pending") == []


def test_a_second_ping_of_the_same_url_is_refused(blog, sources):
    source = sources.add("/tb", plain_post(blog.permalink("offene-debatte")))
    assert ping(blog, "offene-debatte", url=source)[0] == 0
    error, message, _ = ping(blog, "offene-debatte", url=source)
    assert (error, message) == (1, "this trackback has already been registered")
    assert len(blog.entries("pending")) == 1


def test_blocklisted_hosts_are_refused_unfetched(tmp_path, sources):
    with running_blog(tmp_path, REPLIK_LINKBACK_BLOCKLIST=["localhost"]) as blog:
        source = sources.add("/tb", plain_post(blog.permalink("offene-debatte")))
        error, message, _ = ping(blog, "offene-debatte", url=source)
        assert error == 1 and "not accepted" in message
        assert sources.hits == []


def test_the_declared_charset_is_honoured(blog, sources):
    target = blog.permalink("offene-debatte")
    source = sources.add("/tb", f"<html><body><p>Kurz <a href='{target}'>hier</a></p></body></html>")
    body = urlencode({"url": source, "blog_name": "Grüße aus Köln"}, encoding="iso-8859-1")
    response = httpx.post(
        f"{blog.url('REPLIK_TRACKBACK_URL')}/offene-debatte", content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=ISO-8859-1"})
    assert "<error>0</error>" in response.text
    [entry] = blog.entries("pending")
    assert entry.author == "Grüße aus Köln"


@pytest.mark.parametrize("charset", ["rot13", "base64", "zlib", "hex", "idna", "uu"])
def test_a_charset_that_is_no_text_encoding_gets_415(blog, sources, charset):
    target = blog.permalink("offene-debatte")
    source = sources.add("/tb", plain_post(target))
    body = urlencode({"url": source, "blog_name": "Grüße"}, encoding="utf-8")
    response = httpx.post(
        f"{blog.url('REPLIK_TRACKBACK_URL')}/offene-debatte", content=body,
        headers={"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"})
    assert response.status_code == 415
    root = ET.fromstring(response.content)
    assert root.findtext("error") == "1"
    assert f"charset '{charset}' is not supported" in root.findtext("message")
    assert blog.entries("pending") == [] and sources.hits == []


def test_text_that_decodes_to_a_lone_surrogate_gets_415(blog):
    response = httpx.post(
        f"{blog.url('REPLIK_TRACKBACK_URL')}/offene-debatte",
        content=b"url=http%3A%2F%2Flocalhost%2Fp&blog_name=%5Cud800",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=unicode_escape"})
    assert response.status_code == 415
    assert "not valid text" in response.text
    assert blog.entries("pending") == []


def test_a_url_with_a_line_break_is_refused_unfetched(blog, sources):
    target = blog.permalink("offene-debatte")
    source = sources.add("/tb", plain_post(target))
    error, message, _ = ping(blog, "offene-debatte", url=source + "\r\nX-Injected: 1")
    assert (error, message) == (1, "url must be an http or https URL")
    assert sources.hits == [] and blog.entries("pending") == []


def test_a_body_over_the_limit_gets_413_as_a_trackback_error(blog):
    url = f"{blog.url('REPLIK_TRACKBACK_URL')}/offene-debatte"
    big = {"url": "http://localhost/p", "excerpt": "x" * (70 * 1024)}
    for response in (httpx.post(url, data=big, timeout=10),
                     httpx.post(url, content=iter([urlencode(big).encode()]), timeout=10,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})):
        assert response.status_code == 413
        assert response.headers["Content-Type"].startswith("text/xml")
        root = ET.fromstring(response.content)
        assert root.findtext("error") == "1"
        assert "65536" in (root.findtext("message") or "")
    assert blog.entries("pending") == []


def test_only_post(blog):
    response = httpx.get(f"{blog.url('REPLIK_TRACKBACK_URL')}/offene-debatte")
    assert response.status_code == 405
    assert "<error>1</error>" in response.text


def test_the_article_page_shows_its_trackback_url_and_autodiscovery(tmp_path, sources):
    import re

    import lxml.html

    with running_blog(tmp_path, build=True) as blog:
        target = blog.permalink("offene-debatte")
        page = httpx.get(target).text
        doc = lxml.html.fromstring(page)
        ping_url = f"{blog.url('REPLIK_TRACKBACK_URL')}/offene-debatte"
        [shown] = doc.xpath('//section[@id="comments"]//p[@class="trackback-url"]')
        assert shown.text_content().split() == ["TrackBack-URL:", ping_url]
        # A TrackBack client finds the address as the specification describes: the RDF
        # block whose dc:identifier is the page's URL names the ping URL.
        blocks = re.findall(r"<rdf:RDF.*?</rdf:RDF>", page, re.S)
        [block] = blocks
        about = ET.fromstring(block).find(
            "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description")
        assert about.get("{http://purl.org/dc/elements/1.1/}identifier") == target
        assert about.get("{http://purl.org/dc/elements/1.1/}title") == "Offene Debatte"
        discovered = about.get(
            "{http://madskills.com/public/xml/rss/module/trackback/}ping")
        assert discovered == ping_url
        source = sources.add("/tb", plain_post(target))
        response = httpx.post(discovered, data={"url": source}, timeout=10)
        assert "<error>0</error>" in response.text
        assert len(blog.entries("pending")) == 1
        # A closed post takes no trackbacks, and says nothing about them.
        closed = httpx.get(blog.permalink("geschlossen")).text
        assert "trackback-url" not in closed and "rdf:RDF" not in closed
