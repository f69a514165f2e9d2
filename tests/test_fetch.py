"""The guarded fetcher against a real HTTP server on loopback.

The guard's own tests run with REPLIK_FETCH_ALLOW_PRIVATE empty: the loopback
server is then exactly the kind of address the guard must refuse, and its hit
counter proves that nothing was fetched.
"""

from __future__ import annotations

import gzip
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from replik import fetch as fetch_module
from replik.fetch import BadURL, BlockedAddress, FetchError, blocked_reason, fetch
from replik.settings import Settings


class Site:
    """A small WSGI site that records every request it gets."""

    def __init__(self) -> None:
        self.hits: list[Request] = []
        self.port = 0

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.get_data()
        self.hits.append(request)
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        path = request.path
        if path == "/page":
            return Response("<html><title>Hallo</title><p>Grüße</p></html>",
                            content_type="text/html; charset=utf-8")
        if path == "/latin1":
            return Response("<meta charset='iso-8859-1'><p>Grüße</p>".encode("latin-1"),
                            content_type="text/html")
        if path == "/gone-json":
            return Response('{"gone": true}', status=410, content_type="application/json")
        if path == "/json":
            return Response('{"a": 1}', content_type="application/json")
        if path == "/echo":
            return Response(request.form.get("q", ""), content_type="text/plain")
        if path.startswith("/hop/"):
            left = int(path.rsplit("/", 1)[1])
            if left == 0:
                return Response("arrived", content_type="text/plain")
            return Response("", status=302, headers={"Location": f"/hop/{left - 1}"})
        if path == "/loop":
            return Response("", status=301, headers={"Location": "/loop"})
        if path == "/to":
            return Response("", status=302, headers={"Location": request.args["url"]})
        if path == "/to-raw":  # the header as sent, which Werkzeug would refuse to build
            def raw(environ, start_response):
                start_response("302 Found", [("Location", request.args["url"]),
                                             ("Content-Length", "0")])
                return [b""]
            return raw
        if path == "/drip":
            def drip() -> Iterator[bytes]:
                for _ in range(300):
                    yield b"x"
                    time.sleep(0.1)
            return Response(drip(), content_type="text/plain")
        if path == "/silent":
            time.sleep(3)
            return Response("late", content_type="text/plain")
        if path == "/huge":
            def huge() -> Iterator[bytes]:
                chunk = b"a" * (1024 * 1024)
                for _ in range(50):
                    yield chunk
            return Response(huge(), content_type="text/plain")
        if path == "/huge-declared":
            return Response(b"a" * (50 * 1024 * 1024), content_type="text/plain")
        if path == "/bomb":
            body = gzip.compress(b"\0" * (50 * 1024 * 1024))
            return Response(body, content_type="text/plain",
                            headers={"Content-Encoding": "gzip"})
        if path == "/small-gzip":
            return Response(gzip.compress(b"small and fine"), content_type="text/plain",
                            headers={"Content-Encoding": "gzip"})
        return Response("not here", status=404, content_type="text/plain")


@contextmanager
def serving(app: Site, host: str = "127.0.0.1") -> Iterator[Site]:
    server = make_server(host, 0, app, threaded=True)
    app.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def site() -> Iterator[Site]:
    with serving(Site()) as running:
        yield running


GUARDED = Settings.from_mapping({"SITEURL": "https://blog.example",
                                 "REPLIK_FETCH_ALLOW_PRIVATE": [], "REPLIK_FETCH_TIMEOUT": 2.0})


def allowing(*hosts: str, **extra) -> Settings:
    return GUARDED.replace(REPLIK_FETCH_ALLOW_PRIVATE=list(hosts), **extra)


class FakeDNS(dict):
    """Answers chosen names with chosen addresses and records every question."""

    def __init__(self, real) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.real = real

    def resolve(self, host: str, port: int):
        self.calls.append(host)
        if host in self:
            return [ipaddress.ip_address(a) for a in self[host]]
        return self.real(host, port)


@pytest.fixture
def fake_dns(monkeypatch) -> FakeDNS:
    dns = FakeDNS(fetch_module.resolve)
    monkeypatch.setattr(fetch_module, "resolve", dns.resolve)
    return dns


# -- refused before anything is fetched -----------------------------------------


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_GET",
    "ftp://ftp.example.org/pub/",
    "javascript:alert(1)",
    "http://user:secret@example.org/",
])
def test_other_schemes_and_credentials_are_refused(url):
    with pytest.raises(BlockedAddress):
        fetch(url, GUARDED)


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.1", "0x7f000001", "2130706433", "017700000001", "localhost",
    "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0",
])
def test_loopback_in_every_spelling_is_refused_with_nothing_fetched(site, host):
    with pytest.raises(BlockedAddress):
        fetch(f"http://{host}:{site.port}/page", GUARDED)
    assert site.hits == []


@pytest.mark.parametrize("host", [
    "10.0.0.1", "10.255.255.254", "172.16.0.1", "172.31.255.1", "192.168.1.1",
    "169.254.169.254", "[fc00::1]", "[fd12:3456::1]", "[fe80::1]", "100.64.0.1",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "[::]", "[ff02::1]",
    "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]", "[64:ff9b::a9fe:a9fe]",
    "[2002:7f00:1::]", "[2001:db8::1]",
])
def test_private_and_special_addresses_are_refused(host):
    started = time.monotonic()
    with pytest.raises(BlockedAddress):
        fetch(f"http://{host}/latest/meta-data/", GUARDED)
    assert time.monotonic() - started < 1  # refused, not timed out


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111"])
def test_public_addresses_pass_the_check(address):
    assert blocked_reason(ipaddress.ip_address(address)) == ""


def test_a_public_looking_name_whose_dns_answer_is_loopback_is_refused(site, fake_dns):
    fake_dns["news.example.com"] = ["127.0.0.1"]
    with pytest.raises(BlockedAddress, match="news.example.com resolves to 127.0.0.1"):
        fetch(f"http://news.example.com:{site.port}/page", GUARDED)
    assert site.hits == []


def test_one_bad_address_among_several_refuses_the_host(site, fake_dns):
    fake_dns["mixed.example.com"] = ["93.184.215.14", "10.1.2.3"]
    with pytest.raises(BlockedAddress, match="10.1.2.3"):
        fetch(f"http://mixed.example.com:{site.port}/page", GUARDED)


@pytest.mark.parametrize("bad", [
    "http://127.0.0.1:{port}/page", "http://127.1:{port}/page", "http://0x7f000001:{port}/page",
    "http://[::1]:{port}/page", "http://169.254.169.254/latest/", "http://10.0.0.1/",
    "http://[::ffff:127.0.0.1]:{port}/page", "file:///etc/passwd",
])
def test_a_redirect_chain_that_ends_at_a_refused_address_is_refused(site, fake_dns, bad):
    fake_dns["blog.example.net"] = ["127.0.0.1"]
    settings = allowing("blog.example.net")
    target = bad.format(port=site.port)
    url = f"http://blog.example.net:{site.port}/to?url={target}"
    with pytest.raises(BlockedAddress):
        fetch(f"http://blog.example.net:{site.port}/to?url={url}", settings)
    assert [hit.path for hit in site.hits] == ["/to", "/to"]


def test_an_endless_redirect_loop_stops_after_three_redirects(site):
    with pytest.raises(FetchError, match="redirects more than 3 times"):
        fetch(f"http://127.0.0.1:{site.port}/loop", allowing("127.0.0.1"))
    assert len(site.hits) == 4


def test_a_redirect_to_a_malformed_address_is_a_fetch_error(site):
    # Not a ValueError, which would stop a whole `replik linkbacks send` run.
    with pytest.raises(FetchError, match="Invalid URL in location header"):
        fetch(f"http://127.0.0.1:{site.port}/to-raw?url=http://%5B::1", allowing("127.0.0.1"))


def test_three_redirects_are_followed(site):
    result = fetch(f"http://127.0.0.1:{site.port}/hop/3", allowing("127.0.0.1"))
    assert result.text == "arrived"
    assert result.url == f"http://127.0.0.1:{site.port}/hop/0"


def test_a_slow_drip_response_is_cut_off_at_the_total_timeout(site):
    started = time.monotonic()
    with pytest.raises(FetchError, match="too slow"):
        fetch(f"http://127.0.0.1:{site.port}/drip", allowing("127.0.0.1", REPLIK_FETCH_TIMEOUT=1))
    assert time.monotonic() - started < 2.5


def test_a_server_that_says_nothing_times_out(site):
    started = time.monotonic()
    with pytest.raises(FetchError):
        fetch(f"http://127.0.0.1:{site.port}/silent",
              allowing("127.0.0.1", REPLIK_FETCH_TIMEOUT=0.5))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("path", ["/huge", "/huge-declared", "/bomb"])
def test_a_50_mb_response_is_refused_not_truncated(site, path):
    started = time.monotonic()
    with pytest.raises(FetchError, match="limit of 1048576"):
        fetch(f"http://127.0.0.1:{site.port}{path}", allowing("127.0.0.1", REPLIK_FETCH_TIMEOUT=5),
              accept_types=("text/plain",))
    assert time.monotonic() - started < 4


def test_a_smaller_limit_applies(site):
    with pytest.raises(FetchError, match="limit of 10 bytes"):
        fetch(f"http://127.0.0.1:{site.port}/page", allowing("127.0.0.1"), max_bytes=10)


def test_an_unasked_gzip_body_is_decoded(site):
    result = fetch(f"http://127.0.0.1:{site.port}/small-gzip", allowing("127.0.0.1"))
    assert result.text == "small and fine"


def test_only_allowed_content_types(site):
    with pytest.raises(FetchError, match="application/json"):
        fetch(f"http://127.0.0.1:{site.port}/json", allowing("127.0.0.1"))
    result = fetch(f"http://127.0.0.1:{site.port}/json", allowing("127.0.0.1"),
                   accept_types=("application/json",))
    assert result.content == b'{"a": 1}'


# -- what an allowed fetch looks like ----------------------------------------------


def test_the_connection_goes_to_the_checked_address_with_the_right_host(site, fake_dns):
    # The name does not exist in real DNS: the fetch can only work by connecting to
    # the address the guard checked (what the patched resolver said), never re-resolving.
    fake_dns["source.example.invalid"] = ["127.0.0.1"]
    result = fetch(f"http://source.example.invalid:{site.port}/page",
                   allowing("source.example.invalid"))
    assert result.status == 200
    assert "Grüße" in result.text
    assert site.hits[0].headers["Host"] == f"source.example.invalid:{site.port}"
    assert fake_dns.calls == ["source.example.invalid"]


def test_honest_user_agent_and_status(site):
    result = fetch(f"http://127.0.0.1:{site.port}/nothing", allowing("127.0.0.1"))
    assert result.status == 404
    assert site.hits[0].headers["User-Agent"] == "Replik/0.1.0 (+https://blog.example)"


def test_charset_from_meta(site):
    result = fetch(f"http://127.0.0.1:{site.port}/latin1", allowing("127.0.0.1"))
    assert "Grüße" in result.text


def test_post_form_data(site):
    result = fetch(f"http://127.0.0.1:{site.port}/echo", allowing("127.0.0.1"),
                   method="POST", data={"q": "hallo"})
    assert result.text == "hallo"
    assert site.hits[0].method == "POST"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/page\r\nX-Injected: 1",
    "http://127.0.0.1:{port}/page\n",
    "http://127.0.0.1:{port}/pa\tge",
    "http://127.0.0.1:{port}/page\x00",
    "http://[x]:{port}/page",
    "http://127.0.0.1:99999/page",
    "http:///page",
])
def test_a_url_that_does_not_parse_is_the_fetchers_own_bad_url_error(site, url):
    # urllib drops CR/LF silently; httpx raised InvalidURL past the fetcher.
    with pytest.raises(BadURL, match="not a valid URL|no host"):
        fetch(url.format(port=site.port), allowing("127.0.0.1"))
    assert site.hits == []


def test_an_unresolvable_host_is_a_fetch_error(monkeypatch):
    # The system resolver answers "no such name" without asking any DNS server.
    def no_such_name(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", no_such_name)
    with pytest.raises(FetchError, match="cannot resolve"):
        fetch("http://no-such-host.invalid/", GUARDED)


def test_an_error_page_of_any_type_still_gives_its_status(site):
    result = fetch(f"http://127.0.0.1:{site.port}/gone-json", allowing("127.0.0.1"))
    assert result.status == 410


def test_tls_goes_to_the_pinned_address_but_names_the_host(tmp_path):
    """The TLS handshake carries the host name (SNI) and the certificate is checked
    against the name, although the connection goes to the checked IP address."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        conn, _ = listener.accept()
        try:
            with context.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass  # the client refuses our self-signed certificate, as it should

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        with pytest.raises(FetchError, match="(?i)certificate"):
            fetch(f"https://localhost:{port}/", allowing("localhost"))
    finally:
        thread.join(5)
        listener.close()
    assert names == ["localhost"]
