"""Every route of the app under hostile input (Hypothesis): no answer is a server error.

The routes are read from the app's URL map, so a route added later is fuzzed too.
Each example is one request through Flask's test client with a hostile method,
query string, headers and body (forms, JSON nested deep, XML-RPC, raw bytes, odd
charsets, lone surrogates, control characters …). Desk routes are sent with a
logged-in session and, half of the time, its valid CSRF token, so the fuzzing gets
past the gate into the views. No request leaves the process: the fetcher's DNS
look-up is replaced by one that refuses every name.

``REPLIK_FUZZ_EXAMPLES`` sets the examples per route (default 30: the suite stays
quick on two cores); a long run: ``REPLIK_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz_endpoints.py``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import traceback
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_desk_site import PASSWORD
from test_intake_support import make_settings

from replik import fetch as fetch_module
from replik import tokens
from replik.server.app import create_app
from replik.server.auth import make_hash
from replik.store import Entry, Store, new_id

EXAMPLES = int(os.environ.get("REPLIK_FUZZ_EXAMPLES", "30"))
DESK = "/moderate"
HOST = "http://localhost"


# -- the app, with known things to aim at ------------------------------------------------
class Errors(logging.Handler):
    """Keeps the traceback of each unexpected error the app logs (for the failure message)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.seen.append("".join(traceback.format_exception(*record.exc_info)))


class Target:
    """The app, a logged-in desk client, and entries and links to aim at."""

    def __init__(self, app: Flask, store: Store) -> None:
        self.app = app
        self.store = store
        self.desk = app.test_client()
        self.csrf = ""
        self.errors = Errors()
        # Entries the desk may change and delete (put back before each example) ...
        self.desk_entries = [self._entry(state) for state in ("pending", "approved", "spam")]
        self.desk_ids = [entry.id for entry in self.desk_entries]
        # ... and others to answer to and to decide by one-click link.
        self.ids = [self._entry(state).id for state in ("approved", "approved", "pending")]
        settings_ = app.config["REPLIK"]
        self.tokens = [tokens.make_action(settings_, action, entry_id)
                       for action in ("approve", "spam", "trash") for entry_id in self.ids
                       for _copy in range(5)]

    def _entry(self, state: str) -> Entry:
        entry = Entry(id=new_id(), article="offene-debatte", body=f"Ein Kommentar ({state})",
                      date=datetime.now(UTC), author="Leserin", email="l@example.org")
        return self.store.add(replace(entry), state)

    def restock(self) -> None:
        for entry in self.desk_entries:
            if self.store.find(entry.id) is None:
                self.store.add(replace(entry), entry.state)

    def log_in(self) -> None:
        page = self.desk.get(f"{DESK}/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        answer = self.desk.post(f"{DESK}/login", data={
            "csrf": token, "name": "anna", "password": PASSWORD, "next": f"{DESK}/"})
        assert answer.status_code == 302, answer.text
        queue = self.desk.get(f"{DESK}/queue")
        assert queue.status_code == 200
        self.csrf = re.search(r'name="csrf" value="([^"]+)"', queue.text).group(1)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    site = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("PYTHON_AKISMET_API_KEY", "PYTHON_AKISMET_BLOG_URL", "REPLIK_SMTP_HOST"):
            patch.delenv(name, raising=False)
        patch.setenv("REPLIK_FUZZ_HASH", make_hash(PASSWORD))
        patch.setenv("REPLIK_SECRET_KEY", "fuzz-secret-" + "x" * 40)

        def no_dns(host: str, port: int) -> list[Any]:
            raise fetch_module.FetchError(f"no DNS in the fuzz test ({host!r})")

        patch.setattr(fetch_module, "resolve", no_dns)
        settings_ = make_settings(
            site, REPLIK_MODERATORS={"anna": "REPLIK_FUZZ_HASH"}, REPLIK_REBUILD=False,
            REPLIK_WEBMENTION_WORKER=False, REPLIK_FLOOD_PER_MINUTE=0,
            REPLIK_LOGIN_MAX_FAILURES=10**9,
            REPLIK_LINKBACK_PER_MINUTE=0,
        )
        app = create_app(settings=settings_)
        running = Target(app, Store(site / "comments"))
        running.log_in()
        logging.getLogger("replik").addHandler(running.errors)
        try:
            yield running
        finally:
            logging.getLogger("replik").removeHandler(running.errors)


# The app's routes, read once from a throwaway app (the fixture's app is module-scoped
# and parametrize needs the list at collection time).
def _read_routes() -> list[tuple[str, str]]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(settings=make_settings(Path(folder), REPLIK_REBUILD=False,
                                                REPLIK_WEBMENTION_WORKER=False))
        found = []
        for rule in app.url_map.iter_rules():
            for method in sorted(rule.methods - {"OPTIONS"}):
                found.append((rule.rule, method))
    return sorted(set(found))


ROUTES = _read_routes()


# -- hostile values -------------------------------------------------------------------
HOSTILE = [
    "", " ", "\r\n", "\n", "\x00", "\x85", "\u2028", "\ud800", "\udfff", "😀", "\ufffd",
    "a" * 3000, "%", "%ZZ", "%00", "%ED%A0%80", "../../etc/passwd", "javascript:alert(1)",
    "http://[x]/", "http://[::1", "http://127.0.0.1:99999/", "http://localhost/\r\nX: 1",
    "http://localhost/2026/offene-debatte/", "https://example.org/", "//evil.example/",
    "9999-12-31", "0001-01-01", "0001-01-01T00:00+05:00", "9999-12-31T23:00-05:00",
    "2026-03-01", "-1", "0", "1e309", "NaN", "inf", "9" * 5000, "[]", "{}", "null", "true",
    "offene-debatte", "geschlossen", "gibt-es-nicht", "approve", "spam", "trash", "delete",
    "pending", "approved", "comment", "pingback", "yes", "on", "<script>alert(1)</script>",
]
# All of Unicode, lone surrogates included (Hypothesis leaves them out by default),
# and the characters that break things more often than chance would pick them.
ANY_CHAR = st.characters(exclude_categories=[]) | st.sampled_from(
    ["\ud800", "\udc00", "\r", "\n", "\x00", "\x85", "\u2028", "%", "[", "&", "="])
TEXT = st.text(ANY_CHAR, max_size=40)
NAMES = ["article", "reply_to", "author", "email", "url", "body", "consent", "homepage",
         "source", "target", "title", "excerpt", "blog_name", "name", "password", "csrf",
         "next", "action", "ids", "confirm", "token", "since", "until", "state", "type",
         "page", "q", "published"]
CHARSETS = ["", "utf-8", "latin-1", "utf-16", "rot13", "base64", "zlib", "idna", "punycode",
            "unicode_escape", "uu", "hex", "x-unknown", "utf-8\x00"]
TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "application/json",
         "text/xml", "text/plain", "application/octet-stream", "", "*/*", "text/html"]


URLS = ["http://[x]/", "http://[::1", "http://127.0.0.1:99999/", "http://localhost/\r\nX: 1",
        "http://localhost/a\nb", "https://example.org/", "http://169.254.169.254/", "ftp://x/",
        HOST + "/2026/offene-debatte/", HOST + "/", "http:///x", "example.org", "http://a b/"]
DATES = ["9999-12-31", "9999-12-24", "0001-01-01", "0001-01-01T00:00+05:00", "2026-02-30",
         "9999-12-31T23:00-05:00", "2026-03-01", "1800-01-01", "2026-03-01T25:00", "-1"]
#: Hostile values that fit a field's kind (a date where a date is expected …).
KEYED = {
    "since": DATES, "until": DATES, "url": URLS, "source": URLS, "target": URLS,
    "next": URLS + ["/moderate/", "//evil.example/", "/\\evil.example"],
    "action": ["approve", "spam", "trash", "delete", "reply", "x"],
    "state": ["pending", "approved", "spam", "trash", "tmp", "../x"],
    "type": ["comment", "pingback", "trackback", "webmention", "x"],
    "page": ["0", "-1", "99999999999999999999", "1e3", "x"],
}


def values(target: Target, key: str = "") -> st.SearchStrategy[str]:
    known = target.ids + target.desk_ids + target.tokens[:3]
    general = st.one_of(st.sampled_from(HOSTILE + known), TEXT)
    return st.sampled_from(KEYED[key]) | general if key in KEYED else general


def named_pairs(target: Target, size: int) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Extra fields: a known name with a value of its kind, or anything at all."""
    known = st.sampled_from(NAMES).flatmap(lambda key: st.tuples(st.just(key),
                                                                  values(target, key)))
    return st.lists(known | st.tuples(TEXT, values(target)), max_size=size)


def plausible(target: Target, csrf: str, nonce: int) -> dict[str, str]:
    """Values that pass the checks, so that hostile ones get past the first gate."""
    return {
        "article": "offene-debatte", "reply_to": target.ids[1], "author": "Erika",
        "email": "erika@example.org", "url": "https://example.org/",
        "body": f"Ein Text, Nummer {nonce}.",  # not a duplicate of the last example's
        "consent": "yes", "homepage": "", "source": "https://example.org/a",
        "target": HOST + "/2026/offene-debatte/", "title": "Titel", "excerpt": "Auszug",
        "blog_name": "Ein Blog", "name": "anna", "password": PASSWORD, "csrf": csrf,
        "next": DESK + "/", "action": "approve", "ids": target.desk_ids[0], "confirm": "yes",
        "token": target.tokens[0],
    }


def path_values(target: Target, name: str) -> st.SearchStrategy[str]:
    """A path argument: mostly one that exists (else the view is never reached)."""
    known = {"entry_id": target.desk_ids, "token": target.tokens,
             "slug": ["offene-debatte", "geschlossen"], "filename": ["desk.css", "desk.js"]}
    return st.one_of(st.sampled_from(known.get(name) or HOSTILE), values(target))


def header_text() -> st.SearchStrategy[str]:
    # What a WSGI server can hand on: latin-1 text without line breaks.
    return st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)


def encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8


def query(pairs: list[tuple[str, str]]) -> bytes:
    return b"&".join(quote_from_bytes(encoded(k)).encode() + b"=" +
                     quote_from_bytes(encoded(v)).encode() for k, v in pairs)


def json_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
        max_leaves=12,
    )


@st.composite
def fields(draw: st.DrawFn, target: Target, csrf: str) -> list[tuple[str, str]]:
    """Form fields: the plausible ones, some made hostile or left out, plus strangers."""
    found = []
    # All plausible (the request gets through to the store), a few or many changed.
    changes = draw(st.sampled_from([0, 10, 3]))
    for key, value in plausible(target, csrf, draw(st.integers(0, 10**9))).items():
        choice = "keep" if not changes else draw(st.sampled_from(
            ["hostile", "drop"] + ["keep"] * (changes - 2)))
        if choice == "keep":
            found.append((key, value))
        elif choice == "hostile":
            found.append((key, draw(values(target, key))))
    found += draw(named_pairs(target, 4))
    return found


@st.composite
def bodies(draw: st.DrawFn, target: Target, csrf: str) -> tuple[bytes, str]:
    """A request body and its Content-Type."""
    pairs = draw(fields(target, csrf))
    kind = draw(st.sampled_from(["form", "form", "form", "json", "json", "deep", "xmlrpc",
                                 "multipart", "raw", "none"]))
    charset = draw(st.sampled_from(CHARSETS) | st.sampled_from(CHARSETS) | header_text())
    if kind == "form":
        body, mimetype = query(pairs), "application/x-www-form-urlencoded"
    elif kind == "json":
        data: Any = dict(pairs)
        for key, value in draw(st.dictionaries(st.sampled_from(NAMES), json_values(),
                                               max_size=3)).items():
            data.setdefault(key, value)
        if draw(st.integers(0, 4)) == 0:
            data = draw(json_values())  # not an object at all
        body, mimetype = encoded(json.dumps(data)), "application/json"
    elif kind == "deep":
        depth = draw(st.sampled_from([1000, 50000]))
        body = ('{"body": ' + "[" * depth).encode()
        mimetype = "application/json"
        if draw(st.booleans()):
            body, mimetype = b"<methodCall>" + b"<value><array><data>" * (depth // 10), "text/xml"
    elif kind == "xmlrpc":
        method = draw(st.sampled_from(["pingback.ping", "system.multicall", "x"]) | TEXT)
        params = dict(pairs)
        chosen = [params.get("source", ""), params.get("target", "")]
        chosen = draw(st.sampled_from([chosen, chosen[:1], chosen + ["x"]]))
        body = encoded(xmlrpc.client.dumps(tuple(chosen), method))
        mimetype = "text/xml"
    elif kind == "multipart":
        boundary = "fuzzboundary"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                 for k, v in pairs]
        body = encoded("".join(parts) + draw(st.sampled_from([f"--{boundary}--\r\n", ""])))
        mimetype = f"multipart/form-data; boundary={boundary}"
    elif kind == "raw":
        body = draw(st.binary(max_size=400))
        mimetype = draw(st.sampled_from(TYPES) | header_text())
    else:
        body, mimetype = b"", draw(st.sampled_from(TYPES))
    if charset and kind != "multipart" and draw(st.integers(0, 2)) == 0:
        mimetype = f"{mimetype}; charset={charset}"
    return body, mimetype


@st.composite
def requests(draw: st.DrawFn, target: Target, rule: str, method: str,
             csrf: str) -> dict[str, Any]:
    path = rule
    for name in re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule):
        value = draw(path_values(target, name))
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", quote_from_bytes(encoded(value), safe=""), path)
    pairs = draw(fields(target, csrf)) if draw(st.booleans()) else []  # e.g. ?article=…
    pairs += draw(named_pairs(target, 3))
    body, content_type = draw(bodies(target, csrf))
    headers = {"Content-Type": content_type}
    if draw(st.integers(0, 2)) == 0:
        headers["Origin"] = draw(st.sampled_from([HOST, "null", "https://evil.example"])
                                 | header_text())
    for name, choices in (
        ("Accept", ["application/json", "text/html", "*/*", "application/json;q=0"]),
        ("Referer", ["http://[x", HOST + "/x", "https://evil.example/"]),
        ("Content-Encoding", ["gzip", "identity", "br"]),
        ("User-Agent", ["Fuzz/1.0"]),
        ("Cookie", ["replik_desk=garbage", "session=x"]),
        ("X-Forwarded-For", ["1.2.3.4", "[x]"]),
    ):
        if draw(st.integers(0, 3)) == 0:
            headers[name] = draw(st.sampled_from(choices) | header_text())
    return {"method": method, "path": path, "query_string": query(pairs).decode("ascii"),
            "data": body, "headers": headers}


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize(("rule", "method"), ROUTES)
def test_no_input_gets_a_server_error(target: Target, rule: str, method: str,
                                      data: st.DataObject) -> None:
    # Desk pages are fuzzed logged in (else they only redirect to the login); the
    # login and logout themselves with a new visitor who has the login page's token.
    client: FlaskClient = target.app.test_client()
    csrf = target.csrf
    if rule.startswith((f"{DESK}/login", f"{DESK}/logout")):
        page = client.get(f"{DESK}/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    elif rule.startswith(DESK):
        client = target.desk
        target.restock()
    request = data.draw(requests(target, rule, method, csrf))
    target.errors.seen.clear()
    answer = client.open(base_url=HOST, **request)
    body = answer.get_data()
    answer.close()
    assert answer.status_code < 500, (
        f"{answer.status_code} for {request['method']} {request['path']}\n"
        + "\n".join(target.errors.seen))
    assert b"Traceback" not in body


def test_every_route_is_fuzzed_and_the_session_held(target: Target) -> None:
    rules = {rule.rule for rule in target.app.url_map.iter_rules()}
    assert rules == {rule for rule, _method in ROUTES}
    # The desk examples ran logged in: the session is still good.
    assert target.desk.get(f"{DESK}/queue").status_code == 200
