"""Pingback 1.0 with Python's own XML-RPC client against the app on loopback."""

from __future__ import annotations

import gzip
import socket
import time
import xmlrpc.client

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


def proxy(blog) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(blog.url("REPLIK_PINGBACK_URL"))


def fault_of(call) -> xmlrpc.client.Fault:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call()
    return caught.value


def test_a_verified_pingback_waits_for_moderation(blog, sources):
    target = blog.permalink("offene-debatte")
    source = sources.add("/2026/antwort", plain_post(target, title="Warum Antworten zählen"))
    answer = proxy(blog).pingback.ping(source, target)
    assert "registered" in answer
    [entry] = blog.entries("pending")
    assert entry.type == "pingback"
    assert entry.article == "offene-debatte"
    assert entry.title == "Warum Antworten zählen"
    assert entry.source == source
    assert entry.author == "Annas Notizen"
    assert entry.url == sources.base + "/"
    assert entry.extra["Target"] == target
    # The excerpt: words around the link, no markup, no script text, about 200 characters.
    assert "die offene Debatte" in entry.body
    assert "<" not in entry.body and "tracking" not in entry.body
    assert 100 <= len(entry.body) <= 200
    assert entry.body.split()[0] in plain_post(target)  # starts at a whole word
    assert entry.ip == "127.0.0.1"
    assert entry.spam_verdict == "ham"
    # The source was fetched once, with our honest user agent.
    [hit] = sources.hits_to("/2026/antwort")
    assert hit.headers["User-Agent"].startswith("Replik/")


def test_0x10_source_does_not_exist(blog, sources, monkeypatch):
    from replik import fetch as fetch_module

    real = fetch_module.socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        # Unknown names fail here, without asking a DNS server (tests stay on loopback).
        if host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", resolver)
    target = blog.permalink("offene-debatte")
    assert fault_of(lambda: proxy(blog).pingback.ping(sources.base + "/nix", target)
                    ).faultCode == 0x10
    assert fault_of(lambda: proxy(blog).pingback.ping("http://no-such-host.invalid/p", target)
                    ).faultCode == 0x10
    assert fault_of(lambda: proxy(blog).pingback.ping("ftp://example.org/x", target)
                    ).faultCode == 0x10
    assert blog.entries("pending") == []


def test_0x10_for_a_source_on_a_refused_address(blog):
    # 127.0.0.1 is the blog itself and not on the allow list: the guard refuses it.
    target = blog.permalink("offene-debatte")
    source = blog.base + "/offene-debatte/"
    fault = fault_of(lambda: proxy(blog).pingback.ping(source, target))
    assert fault.faultCode == 0x10
    assert "loopback" in fault.faultString


def test_0x11_source_does_not_link_to_target(blog, sources):
    target = blog.permalink("offene-debatte")
    source = sources.add("/ohne-link", plain_post(blog.permalink("geschlossen")))
    assert fault_of(lambda: proxy(blog).pingback.ping(source, target)).faultCode == 0x11
    # A link only inside a script is no link.
    source = sources.add("/nur-skript", f"<html><script>'{target}'</script><p>Hallo</p></html>")
    assert fault_of(lambda: proxy(blog).pingback.ping(source, target)).faultCode == 0x11


def test_0x20_only_for_a_target_that_certainly_does_not_exist(tmp_path, sources):
    # The spec: 0x20 only when the target definitely does not exist. Our built site
    # has no page at these paths.
    from replik import gone
    from replik.writers import atomic_write

    with running_blog(tmp_path, build=True) as blog:
        # A deleted post: listed as gone by the build, its old page still in output/.
        stale = tmp_path / "output" / "alte-meldung" / "index.html"
        stale.parent.mkdir()
        stale.write_text("<p>alt</p>")
        atomic_write(tmp_path / "output" / gone.FILENAME, gone.render(["alte-meldung/"], ""))
        for target in (blog.base + "/gibt-es-nicht/", blog.base + "/offene-debatte/nein",
                       blog.base + "/category/nirgends.html", blog.base + "/alte-meldung/"):
            source = sources.add("/p", plain_post(target))
            fault = fault_of(lambda t=target, s=source: proxy(blog).pingback.ping(s, t))
            assert fault.faultCode == 0x20, (target, fault.faultString)
    assert sources.hits == []  # nothing fetched for a bad target


def test_0x21_for_targets_that_exist_but_take_no_pingbacks(tmp_path, sources):
    # The spec's example: pinging a home page or a list of posts gives 0x21; so does a
    # target on another site or one that is not an http(s) URL (we cannot say it does
    # not exist), a page, and a post with comments closed.
    with running_blog(tmp_path, build=True) as blog:
        output = tmp_path / "output"
        assert (output / "index.html").is_file()
        [category] = [p for p in (output / "category").iterdir() if p.suffix == ".html"]
        for target in (blog.base + "/", blog.base, blog.base + "/index.html",
                       f"{blog.base}/category/{category.name}", blog.base + "/archives.html",
                       blog.permalink("geschlossen"), blog.base + "/impressum/",
                       "http://other.example/offene-debatte/", "mailto:someone@example.org"):
            source = sources.add("/p", plain_post(target))
            fault = fault_of(lambda t=target, s=source: proxy(blog).pingback.ping(s, t))
            assert fault.faultCode == 0x21, (target, fault.faultString)
        assert blog.entries("pending") == []
    assert sources.hits == []


def test_0x21_when_there_is_no_built_site_to_ask(blog, sources):
    # Without output/ nobody can tell a missing path from an unknown one.
    target = blog.base + "/gibt-es-nicht/"
    source = sources.add("/p", plain_post(target))
    assert fault_of(lambda: proxy(blog).pingback.ping(source, target)).faultCode == 0x21


def test_0x30_already_registered(blog, sources):
    target = blog.permalink("offene-debatte")
    source = sources.add("/p", plain_post(target))
    proxy(blog).pingback.ping(source, target)
    assert fault_of(lambda: proxy(blog).pingback.ping(source, target)).faultCode == 0x30
    # Still registered after a moderator's decision.
    [entry] = blog.entries("pending")
    blog.store.move(entry.id, "approved")
    assert fault_of(lambda: proxy(blog).pingback.ping(source, target)).faultCode == 0x30
    assert len(blog.entries("approved")) == 1


def test_0x31_access_denied_by_blocklist(tmp_path):
    with source_site() as sources, running_blog(
        tmp_path, REPLIK_LINKBACK_BLOCKLIST=["localhost"]
    ) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/p", plain_post(target))
        assert fault_of(lambda: proxy(blog).pingback.ping(source, target)).faultCode == 0x31
        assert sources.hits == []


def test_0x31_access_denied_by_rate_limit(tmp_path):
    with source_site() as sources, running_blog(tmp_path, REPLIK_LINKBACK_PER_MINUTE=2) as blog:
        target = blog.permalink("offene-debatte")
        for number in range(2):
            proxy(blog).pingback.ping(sources.add(f"/p{number}", plain_post(target)), target)
        fault = fault_of(lambda: proxy(blog).pingback.ping(
            sources.add("/p3", plain_post(target)), target))
        assert fault.faultCode == 0x31
        assert "too many" in fault.faultString
        assert len(blog.entries("pending")) == 2


def test_0x32_upstream_error(blog, sources):
    target = blog.permalink("offene-debatte")
    source = sources.add("/kaputt", "Server kaputt", status=503, content_type="text/plain")
    assert fault_of(lambda: proxy(blog).pingback.ping(source, target)).faultCode == 0x32


@pytest.mark.parametrize("call", [
    lambda p: p.pingback.ping("only one argument"),
    lambda p: p.pingback.ping(1, 2),
    lambda p: p.pingback.extensions.getPingbacks("http://x.example/"),
    lambda p: p.system.listMethods(),
    lambda p: p.system.multicall([{"methodName": "pingback.ping", "params": ["a", "b"]}]),
])
def test_other_calls_get_fault_0(blog, call):
    assert fault_of(lambda: call(proxy(blog))).faultCode == 0


def raw_post(blog, body: bytes, **headers: str) -> httpx.Response:
    headers = {"Content-Type": "text/xml", **headers}
    return httpx.post(blog.url("REPLIK_PINGBACK_URL"), content=body, headers=headers, timeout=10)


def fault_code(response: httpx.Response) -> int:
    assert response.status_code == 200
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(response.content)
    return caught.value.faultCode


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<methodCall><methodName>pingback.ping</methodName><params>
<param><value><string>&lol4;</string></value></param>
<param><value><string>x</string></value></param></params></methodCall>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>pingback.ping</methodName><params>
<param><value><string>&secret;</string></value></param>
<param><value><string>x</string></value></param></params></methodCall>"""


@pytest.mark.parametrize("body", [
    b"not xml at all", b"<methodCall><methodName>pingback.ping", BILLION_LAUGHS,
    EXTERNAL_ENTITY, b"",
])
def test_malformed_and_hostile_xml_gets_fault_0(blog, body):
    started = time.monotonic()
    assert fault_code(raw_post(blog, body)) == 0
    assert time.monotonic() - started < 2
    assert blog.entries("pending") == []


def test_a_huge_document_is_refused_unread(blog):
    body = b"<methodCall>" + b"<x>" * 2_000_000 + b"</methodCall>"
    started = time.monotonic()
    response = raw_post(blog, body)
    # Refused by HTTP before XML-RPC sees it, like every endpoint's oversized body.
    assert response.status_code == 413
    assert "zu groß (höchstens 16384 Bytes)" in response.text
    with pytest.raises(xmlrpc.client.Fault) as caught:  # in XML-RPC's words, for clients
        xmlrpc.client.loads(response.content)
    assert caught.value.faultCode == 0 and "16384" in caught.value.faultString
    assert time.monotonic() - started < 3
    chunked = httpx.post(blog.url("REPLIK_PINGBACK_URL"), content=iter([body]),
                         headers={"Content-Type": "text/xml"}, timeout=10)
    assert chunked.status_code == 413


@pytest.mark.parametrize("source", [
    "http://localhost/p\r\nX-Injected: 1", "http://localhost/p\n", "http://[x]/p",
])
def test_0x10_for_a_source_url_that_does_not_parse(blog, source):
    # Before: httpx.InvalidURL escaped the fetcher and the sender got fault 0
    # ("try again later"); a retry would fail the same way.
    target = blog.permalink("offene-debatte")
    assert fault_of(lambda: proxy(blog).pingback.ping(source, target)).faultCode == 0x10
    assert blog.entries("pending") == []


def test_a_compressed_body_is_refused(blog, sources):
    target = blog.permalink("offene-debatte")
    source = sources.add("/p", plain_post(target))
    body = gzip.compress(xmlrpc.client.dumps((source, target), "pingback.ping").encode())
    response = raw_post(blog, body, **{"Content-Encoding": "gzip"})
    assert fault_code(response) == 0
    assert "compressed" in response.text
    assert sources.hits == []


def test_get_is_not_an_xmlrpc_call(blog):
    response = httpx.get(blog.url("REPLIK_PINGBACK_URL"))
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_the_built_article_advertises_the_endpoints(tmp_path):
    with running_blog(tmp_path, build=True) as blog:
        page = httpx.get(blog.permalink("offene-debatte")).text
        assert f'<link rel="pingback" href="{blog.url("REPLIK_PINGBACK_URL")}">' in page
        assert f'<link rel="webmention" href="{blog.url("REPLIK_WEBMENTION_URL")}">' in page


def test_linkbacks_pass_the_spam_rules(tmp_path):
    with source_site() as sources, running_blog(
        tmp_path, REPLIK_DISALLOWED_KEYS=["Kundschaft"]
    ) as blog:
        target = blog.permalink("offene-debatte")
        proxy(blog).pingback.ping(sources.add("/p", plain_post(target)), target)
        assert blog.entries("pending") == []
        [entry] = blog.entries("spam")
        assert "disallowed keyword" in entry.spam_reason


def test_linkbacks_are_checked_by_akismet(tmp_path):
    with source_site() as sources, running_blog(
        tmp_path, REPLIK_AKISMET_CLIENT="linkback_support.SpamClient"
    ) as blog:
        target = blog.permalink("offene-debatte")
        proxy(blog).pingback.ping(sources.add("/p", plain_post(target)), target)
        [entry] = blog.entries("spam")
        assert entry.spam_verdict == "spam"
        assert entry.spam_reason == "Akismet: spam"


def test_known_pairs_written_by_other_tools_are_recognised(blog, sources, monkeypatch):
    from datetime import UTC, datetime

    from replik.linkbacks import pairs
    from replik.store import Entry, new_id

    target = blog.permalink("offene-debatte")
    imported = sources.add("/importiert", plain_post(target))
    first = sources.add("/erster", plain_post(target))
    proxy(blog).pingback.ping(first, target)  # the pair index exists from here on
    # An import writes a pingback straight into the store.
    blog.store.add(Entry(id=new_id(), article="offene-debatte", body="…", type="pingback",
                         date=datetime.now(UTC), source=imported), "approved")
    monkeypatch.setattr(pairs, "RESEED_SECONDS", 0.0)
    assert fault_of(lambda: proxy(blog).pingback.ping(imported, target)).faultCode == 0x30


def test_a_deleted_pingback_may_be_sent_again(blog, sources):
    target = blog.permalink("offene-debatte")
    source = sources.add("/p", plain_post(target))
    proxy(blog).pingback.ping(source, target)
    [entry] = blog.entries("pending")
    blog.store.delete(entry.id)
    assert "registered" in proxy(blog).pingback.ping(source, target)
    assert len(blog.entries("pending")) == 1


def test_the_pair_index_is_built_again_when_the_cache_is_deleted(tmp_path):
    """Server processes share the derived pair index in the cache. Deleted under a
    running one, it is built again, and a pair that a process started afterwards
    stores is known to it (it does not keep reading the deleted file)."""
    import shutil
    from datetime import UTC, datetime

    from replik.linkbacks.pairs import PairIndex
    from replik.settings import Settings, cache_path
    from replik.store import Entry, Store, new_id

    settings = Settings.from_mapping({"REPLIK_STORE": str(tmp_path / "comments"),
                                      "REPLIK_CACHE": str(tmp_path / "cache"),
                                      "PATH": str(tmp_path)})
    store = Store(tmp_path / "comments")
    store.ensure()

    def pingback(source: str) -> Entry:
        return Entry(id=new_id(), article="offene-debatte", body="…", type="pingback",
                     date=datetime.now(UTC), source=source)

    running = PairIndex(settings, store)
    one = store.add(pingback("https://a.example/1"), "pending")
    running.add(one)
    shutil.rmtree(cache_path(settings))
    assert running.find("https://a.example/1", "offene-debatte").id == one.id
    started_later = PairIndex(settings, store)
    two = pingback("https://a.example/2")
    started_later.add(two)  # in the index before the store has it (as Receiver.save does)
    store.add(two, "pending")
    assert running.find("https://a.example/2", "offene-debatte").id == two.id
