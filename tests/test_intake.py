"""The comment intake through a real HTTP server on loopback: every success and error path."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import time
from datetime import UTC
from pathlib import Path

import pytest
from liveserver import live_server
from test_intake_support import approved, client, form, make_settings

from replik.server.app import create_app
from replik.store import Store

JSON = {"Accept": "application/json"}


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHON_AKISMET_API_KEY", raising=False)
    monkeypatch.delenv("PYTHON_AKISMET_BLOG_URL", raising=False)
    monkeypatch.delenv("REPLIK_SMTP_HOST", raising=False)
    return tmp_path


def serve(site: Path, **overrides):
    settings = make_settings(site, **overrides)
    return settings, live_server(create_app(settings=settings))


def stored(site: Path, state: str = "pending"):
    return list(Store(site / "comments").entries(state))


def test_form_post_stores_and_redirects_to_thanks(site):
    _settings, server = serve(site)
    body = "Zeile eins  \r\nZeile <b>zwei</b> & \"drei\" 😀\n"
    with server as (base, _):
        with client(base) as http:
            answer = http.post("/replik/comment", data=form(body=body, url="beispiel.de"),
                               headers={"User-Agent": "TestAgent/1.0",
                                        "Referer": base + "/2026/offene-debatte/"})
            assert answer.status_code == 303
            assert answer.headers["Location"].startswith("/replik/thanks?article=offene-debatte")
            thanks = http.get(answer.headers["Location"])
    assert thanks.status_code == 200
    assert "Danke für Ihren Kommentar!" in thanks.text
    assert "wartet auf Freigabe" in thanks.text
    assert "/2026/offene-debatte/" in thanks.text
    assert '<html lang="de">' in thanks.text and 'class="site-header"' in thanks.text
    [entry] = stored(site)
    assert entry.body == body  # exactly as typed
    assert entry.author == "Erika Muster"
    assert entry.email == "erika@example.org"
    assert entry.url == "https://beispiel.de"
    assert entry.ip == "127.0.0.1"
    assert entry.user_agent == "TestAgent/1.0"
    assert entry.referrer == base + "/2026/offene-debatte/"
    assert entry.date.tzinfo is not None and entry.date.utcoffset().total_seconds() == 0
    assert entry.date.tzinfo == UTC
    assert entry.spam_verdict == "ham"
    assert "local rules only" in entry.spam_reason
    assert not list((site / "comments" / "tmp").iterdir())


def test_json_api_returns_201_and_field_errors(site):
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            ok = http.post("/replik/comment", json=form(), headers=JSON)
            bad = http.post("/replik/comment", json=form(author="", body="", email="x@"),
                            headers=JSON)
            form_json = http.post("/replik/comment", data=form(author=""), headers=JSON)
    assert ok.status_code == 201
    assert ok.json()["ok"] is True and ok.json()["state"] == "pending"
    assert ok.json()["id"] == stored(site)[0].id
    assert bad.status_code == 422
    errors = bad.json()["errors"]
    assert set(errors) == {"author", "body", "email"}
    assert errors["author"] == "Bitte ausfüllen: Name."
    assert form_json.status_code == 422 and "author" in form_json.json()["errors"]


def test_missing_fields_show_the_form_again_with_text_kept(site):
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            answer = http.post("/replik/comment",
                               data=form(author="", body="Mein <langer> Text", consent=""))
    assert answer.status_code == 422
    page = answer.text
    assert "Bitte ausfüllen: Name." in page
    assert "Bitte willigen Sie in die Speicherung Ihrer Daten ein." in page
    assert "Mein &lt;langer&gt; Text</textarea>" in page  # kept and escaped
    assert 'value="erika@example.org"' in page
    assert 'id="respond"' in page and 'class="site-header"' in page
    assert stored(site) == []


def test_a_post_in_english_gets_its_form_and_errors_in_english(site):
    _settings, server = serve(site, REPLIK_CONTENT_POLL=0)
    (site / "content" / "english.md").write_text(
        "Title: In English\nDate: 2026-04-01 10:00\nSlug: in-english\nLang: en\n\nText.\n")
    with server as (base, _):
        with client(base) as http:
            answer = http.post("/replik/comment",
                               data=form(article="in-english", author="", body="Hello"))
            german = http.post("/replik/comment", data=form(author="", body="Hallo"))
    assert answer.status_code == 422
    page = answer.text
    assert '<html lang="en">' in page
    assert "Please fill in: Name." in page and "Please correct the marked fields." in page
    assert "Post comment" in page and "Bitte" not in page
    assert "Bitte ausfüllen: Name." in german.text and '<html lang="de">' in german.text
    assert stored(site) == []


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"email": "keine-adresse"}, "email", "keine E-Mail-Adresse"),
        ({"url": "javascript:alert(1)"}, "url", "http://"),
        ({"url": "ftp://example.org/x"}, "url", "http://"),
        ({"author": "x" * 101}, "author", "zu lang"),
        ({"body": "y" * 10001}, "body", "zu lang"),
        ({"body": "Steuer\x00zeichen"}, "body", "unzulässige Zeichen"),
        ({"url": "http://[x]/"}, "url", "http://"),
        ({"url": "http://beispiel.de:99999/"}, "url", "http://"),
        ({"reply_to": "20260101T000000000000Z-deadbeef"}, "reply_to", "nicht auf dieser Seite"),
    ],
)
def test_invalid_fields_are_refused_with_422(site, values, field, message):
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            answer = http.post("/replik/comment", data=form(**values), headers=JSON)
    assert answer.status_code == 422
    assert message in answer.json()["errors"][field]
    assert stored(site) == [] and stored(site, "spam") == []


def test_reply_must_point_to_an_approved_entry_of_the_same_article(site):
    parent = approved(site / "comments", "offene-debatte")
    other = approved(site / "comments", "geschlossen", body="anderswo")
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            good = http.post("/replik/comment", data=form(reply_to=parent.id, body="Antwort"),
                             headers=JSON)
            pending_id = good.json()["id"]
            to_pending = http.post("/replik/comment",
                                   data=form(reply_to=pending_id, body="Antwort 2"), headers=JSON)
            cross = http.post("/replik/comment", data=form(reply_to=other.id, body="Quer"),
                              headers=JSON)
    assert good.status_code == 201
    assert Store(site / "comments").get(pending_id).reply_to == parent.id
    assert to_pending.status_code == 422 and "reply_to" in to_pending.json()["errors"]
    assert cross.status_code == 422 and "reply_to" in cross.json()["errors"]


def test_only_utf8_is_accepted(site):
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            latin1 = http.post(
                "/replik/comment", content=b"article=offene-debatte&author=J%FCrgen&body=Gr%FC%DFe"
                b"&consent=yes",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
            raw_json = http.post("/replik/comment", content=b'{"author": "J\xfcrgen"}',
                                 headers={"Content-Type": "application/json"})
            utf16 = http.post("/replik/comment", content=json.dumps(form()).encode("utf-16"),
                              headers={"Content-Type": "application/json"})
            utf8 = http.post(
                "/replik/comment", content=b"article=offene-debatte&author=J%C3%BCrgen&body="
                b"Gr%C3%BC%C3%9Fe&consent=yes",
                headers={"Content-Type": "application/x-www-form-urlencoded", **JSON})
    assert latin1.status_code == 400 and "UTF-8" in latin1.text
    assert raw_json.status_code == 400 and utf16.status_code == 400
    assert utf8.status_code == 201
    assert stored(site)[0].author == "Jürgen" and stored(site)[0].body == "Grüße"


def test_other_origins_are_refused(site):
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            evil = http.post("/replik/comment", data=form(),
                             headers={"Origin": "https://evil.example"})
            null = http.post("/replik/comment", data=form(), headers={"Origin": "null"})
            referer = httpx_post_without_origin(base, {"Referer": "https://evil.example/x"})
            site_origin = http.post("/replik/comment", data=form(body="vom Blog"),
                                    headers={"Origin": "http://127.0.0.1:8000"})
            plain = httpx_post_without_origin(base, {})
    assert evil.status_code == 403 and null.status_code == 403 and referer.status_code == 403
    assert "<html" in evil.text and "Traceback" not in evil.text
    assert site_origin.status_code == 303  # SITEURL's origin
    assert plain.status_code == 303  # no browser, no CSRF
    assert len(stored(site)) == 2


def httpx_post_without_origin(base: str, headers: dict):
    import httpx

    return httpx.post(base + "/replik/comment", data=form(body=f"ohne Origin {headers}"),
                      headers=headers, timeout=10)


def test_too_large_request_gives_413(site):
    _settings, server = serve(site, REPLIK_MAX_REQUEST_BYTES=20000)
    with server as (base, _):
        with client(base) as http:
            answer = http.post("/replik/comment", data=form(body="z" * 30000))
            json_answer = http.post("/replik/comment", data=form(body="z" * 30000), headers=JSON)
    assert answer.status_code == 413 and "Traceback" not in answer.text
    assert json_answer.status_code == 413 and json_answer.json()["ok"] is False
    assert stored(site) == []


class CountingInput:
    """wsgi.input that counts the bytes the app reads from it."""

    def __init__(self, stream, counter: list[int]) -> None:
        self.stream, self.counter = stream, counter

    def read(self, *args):
        data = self.stream.read(*args)
        self.counter[0] += len(data)
        return data

    def readline(self, *args):
        data = self.stream.readline(*args)
        self.counter[0] += len(data)
        return data

    def __iter__(self):
        return iter(self.readline, b"")


def chunked_post(base: str, path: str, content_type: str, total: int) -> tuple[bytes, int]:
    """POST up to ``total`` bytes with Transfer-Encoding: chunked over a raw socket,
    stopping as soon as the server answers; returns (answer, bytes sent)."""
    host, port = base.removeprefix("http://").split(":")
    chunk = b"a" * 16384
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}"
                     "\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        try:
            while sent < total:
                readable, writable, _ = select.select([sock], [sock], [], 30)
                if readable:
                    break  # the server answered before the body ended
                if writable:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered and closed while we were sending: read the answer
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer, sent


@pytest.mark.parametrize(("path", "content_type", "limit"), [
    ("/replik/comment", "application/x-www-form-urlencoded", 262144),
    ("/replik/preview", "application/json", 262144),
    ("/replik/webmention", "application/x-www-form-urlencoded", 16384),
    ("/replik/pingback", "text/xml", 16384),
    ("/replik/trackback/offene-debatte", "application/x-www-form-urlencoded", 65536),
    ("/replik/action/x", "application/x-www-form-urlencoded", 262144),
    ("/moderate/login", "application/x-www-form-urlencoded", 262144),
])
def test_a_chunked_body_over_the_limit_gets_413_unread(site, path, content_type, limit):
    # No Content-Length to check: the body must be cut off while it is read.
    _settings, server = serve(site)
    total = 64 * 1024 * 1024
    read = [0]
    with server as (base, holder):
        app = holder.app

        def counting(environ, start_response):
            environ["wsgi.input"] = CountingInput(environ["wsgi.input"], read)
            return app(environ, start_response)

        holder.app = counting
        answer, sent = chunked_post(base, path, content_type, total)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert read[0] <= limit + 1  # the server stopped reading at the limit
    assert sent < total


@pytest.mark.parametrize(("field", "value"), [
    ("author", "Eve\r\nApprove: http://evil.example/x"),
    ("author", "Eve\nApprove: http://evil.example/x"),
    ("author", "Eve\u2028Approve: http://evil.example/x"),
    ("author", "Eve\x85Approve"),
    ("author", "Tab\tim Namen"),
    ("url", "https://beispiel.de/\r\nApprove: http://evil.example/x"),
    ("email", "erika@example.org\nApprove: http://evil.example/x"),
])
def test_line_breaks_in_one_line_fields_are_refused(site, field, value):
    # A line break in a name or address would forge lines in the moderators' mail.
    label = {"author": "Name", "url": "Website", "email": "E-Mail"}[field]
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            as_json = http.post("/replik/comment", json=form(**{field: value}), headers=JSON)
            page = http.post("/replik/comment", data=form(**{field: value}))
    assert as_json.status_code == 422
    assert as_json.json()["errors"] == {
        field: f"„{label}“ muss eine Zeile sein, ohne Zeilenumbrüche und Steuerzeichen."}
    assert page.status_code == 422 and "ohne Zeilenumbrüche" in page.text
    assert stored(site) == [] and stored(site, "spam") == []


def test_a_closed_post_says_that_comments_are_closed(site):
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            page = http.post("/replik/comment",
                             data=form(article="geschlossen", body="Mein Text <b>hier</b>"))
            as_json = http.post("/replik/comment", data=form(article="geschlossen"),
                                headers=JSON)
            empty = http.post("/replik/comment",
                              data=form(article="geschlossen", author="", body=""), headers=JSON)
            missing = http.post("/replik/comment", data=form(article="gibt-es-nicht"))
            missing_json = http.post("/replik/comment", data=form(article="gibt-es-nicht"),
                                     headers=JSON)
    closed = "Die Kommentare zu diesem Beitrag sind geschlossen."
    # The form page (no JavaScript) says why, not "correct the marked fields".
    assert page.status_code == 403
    assert closed in page.text and "markierten Felder" not in page.text
    assert "Mein Text &lt;b&gt;hier&lt;/b&gt;</textarea>" in page.text  # nothing lost
    assert as_json.status_code == 403
    assert as_json.json() == {"ok": False, "message": closed, "errors": {"article": closed}}
    # Fixing the fields would not help, so they are not what the answer is about.
    assert empty.status_code == 403 and empty.json()["message"] == closed
    gone = "Diesen Beitrag gibt es nicht (mehr)."
    assert missing.status_code == 404 and gone in missing.text
    assert "markierten Felder" not in missing.text
    assert missing_json.status_code == 404 and missing_json.json()["message"] == gone
    assert stored(site) == [] and stored(site, "spam") == []


def test_a_lone_surrogate_is_refused_before_the_duplicate_check(site):
    _settings, server = serve(site)
    broken = {**form(body="Mein Kommentar"), "author": "Erika \ud800"}
    raw = json.dumps(broken).encode()  # ensure_ascii: the surrogate is written "\\ud800"
    assert b"\\ud800" in raw
    with server as (base, _):
        with client(base) as http:
            first = http.post("/replik/comment", content=raw,
                              headers={"Content-Type": "application/json"})
            body = http.post("/replik/comment", content=json.dumps(
                form(body="Text \udfff kaputt")).encode(), headers={
                "Content-Type": "application/json"})
            preview = http.post("/replik/preview", content=raw,
                                headers={"Content-Type": "application/json"})
            corrected = http.post("/replik/comment", json=form(body="Mein Kommentar"),
                                  headers=JSON)
    assert first.status_code == 400 and "kein gültiges Unicode" in first.json()["message"]
    assert body.status_code == 400
    assert preview.status_code == 400 and "kein gültiges Unicode" in preview.json()["message"]
    # The reader's corrected retry is not taken for a duplicate of the refused one.
    assert corrected.status_code == 201
    assert [e.body for e in stored(site)] == ["Mein Kommentar"]


def test_a_failed_write_gives_the_duplicate_claim_back(site, monkeypatch):
    _settings, server = serve(site)
    real_add = Store.add
    failures = []

    def add_once_failing(self, entry, *args, **kwargs):
        if not failures:
            failures.append(entry.id)
            raise RuntimeError("the store broke in a way nobody expected")
        return real_add(self, entry, *args, **kwargs)

    monkeypatch.setattr(Store, "add", add_once_failing)
    with server as (base, _):
        with client(base) as http:
            broken = http.post("/replik/comment", json=form(body="Wichtig"), headers=JSON)
            retry = http.post("/replik/comment", json=form(body="Wichtig"), headers=JSON)
    assert broken.status_code == 500 and "Traceback" not in broken.text
    assert broken.json()["ok"] is False
    assert failures and retry.status_code == 201
    assert [e.body for e in stored(site)] == ["Wichtig"]


def test_json_nested_50000_deep_is_refused_with_400(site):
    _settings, server = serve(site)
    deep = ('{"article": "offene-debatte", "body": ' + "[" * 50000 + "]" * 50000 + "}").encode()
    with server as (base, _):
        with client(base) as http:
            answers = [http.post(path, content=deep,
                                 headers={"Content-Type": "application/json"})
                       for path in ("/replik/comment", "/replik/preview")]
    for answer in answers:
        assert answer.status_code == 400
        assert "zu tief verschachtelt" in answer.json()["message"]
    assert stored(site) == []


def test_a_website_that_does_not_parse_is_left_out_of_the_preview(site):
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            answer = http.post("/replik/preview", data=form(url="http://[x]/"), headers=JSON)
    assert answer.status_code == 200
    assert "[x]" not in answer.json()["html"] and "Erika Muster" in answer.json()["html"]


def test_an_unparsable_referer_is_no_server_error(site):
    _settings, server = serve(site)
    with server as (base, _):
        answer = httpx_post_without_origin(base, {"Referer": "http://[x/"})
    assert answer.status_code == 303
    assert len(stored(site)) == 1


def test_flood_control_per_ip_and_email_gives_429(site):
    _settings, server = serve(site, REPLIK_FLOOD_PER_MINUTE=2)
    with server as (base, _):
        with client(base) as http:
            codes = [http.post("/replik/comment", data=form(body=f"Nummer {n}"),
                               headers=JSON).status_code for n in range(3)]
            last = http.post("/replik/comment", data=form(body="noch einer"))
    assert codes == [201, 201, 429]
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1
    assert "zu schnell" in last.text and "noch einer</textarea>" in last.text
    assert len(stored(site)) == 2


def test_duplicate_text_on_the_same_article_is_refused(site):
    approved(site / "comments", "offene-debatte", body="Schon  da")
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            first = http.post("/replik/comment", data=form(body="Gleicher Text"), headers=JSON)
            again = http.post("/replik/comment", data=form(body="gleicher   text"), headers=JSON)
            old = http.post("/replik/comment", data=form(body="schon da"), headers=JSON)
            page = http.post("/replik/comment", data=form(body="Gleicher Text"))
    assert first.status_code == 201
    assert again.status_code == 409 and "bereits gesendet" in again.json()["message"]
    assert old.status_code == 409
    assert page.status_code == 409 and "bereits gesendet" in page.text
    assert len(stored(site)) == 1


def test_unwritable_store_gives_503_and_nothing_half_written(site):
    settings, server = serve(site)
    with server as (base, _):
        tmp = site / "comments" / "tmp"
        os.rmdir(tmp)
        tmp.write_text("not a folder")  # every write now fails, even as root
        with client(base) as http:
            answer = http.post("/replik/comment", data=form(body="Wichtig"))
            json_answer = http.post("/replik/comment", data=form(body="Wichtig"), headers=JSON)
        tmp.unlink()
        tmp.mkdir()
        with client(base) as http:
            retry = http.post("/replik/comment", data=form(body="Wichtig"), headers=JSON)
    assert answer.status_code == 503 and "nicht gespeichert" in answer.text
    assert "Wichtig</textarea>" in answer.text
    assert json_answer.status_code == 503 and "Retry-After" in json_answer.headers
    # The duplicate reservation was given back, so the retry is accepted.
    assert retry.status_code == 201
    assert [e.body for e in stored(site)] == ["Wichtig"]


def test_unwritable_cache_gives_503_and_nothing_stored(site):
    settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            first = http.post("/replik/comment", data=form(body="Vorher"), headers=JSON)
            cache = site / "cache" / "intake"
            shutil.rmtree(cache)
            cache.write_text("not a folder")  # flood counters and duplicate index fail
            answer = http.post("/replik/comment", data=form(body="Wichtig"))
            json_answer = http.post("/replik/comment", data=form(body="Wichtig"), headers=JSON)
            cache.unlink()
            retry = http.post("/replik/comment", data=form(body="Wichtig"), headers=JSON)
            again = http.post("/replik/comment", data=form(body="Vorher"), headers=JSON)
    assert first.status_code == 201
    assert answer.status_code == 503 and "Wichtig</textarea>" in answer.text
    assert json_answer.status_code == 503 and "Retry-After" in json_answer.headers
    assert retry.status_code == 201
    assert again.status_code == 409  # the index was rebuilt from the store
    assert sorted(e.body for e in stored(site)) == ["Vorher", "Wichtig"]


def test_local_spam_rules(site):
    approved(site / "comments", "offene-debatte", author="Stammgast", email="stamm@example.org")
    _settings, server = serve(
        site, REPLIK_DISALLOWED_KEYS=["casino"], REPLIK_MODERATION_KEYS=["Anwalt"],
        REPLIK_AUTO_APPROVE_KNOWN=True, REPLIK_FLOOD_PER_MINUTE=0,
    )
    with server as (base, _):
        with client(base) as http:
            def post(**values):
                answer = http.post("/replik/comment", data=form(**values), headers=JSON)
                assert answer.status_code == 201, answer.text
                return Store(site / "comments").get(answer.json()["id"])

            honeypot = post(body="Bot", homepage="http://spam.example")
            banned = post(body="Bestes CASINO online")
            held_key = post(body="Mein Anwalt sagt", author="Stammgast", email="stamm@example.org")
            links = post(body="Siehe http://a.example und www.b.example")
            known = post(body="Wieder ich", author="Stammgast", email="STAMM@example.org")
            stranger = post(body="Neu hier")
    assert (honeypot.state, honeypot.spam_reason) == ("spam", "honeypot field filled in")
    assert banned.state == "spam" and "casino" in banned.spam_reason
    assert held_key.state == "pending" and "Anwalt" in held_key.spam_reason
    assert links.state == "pending" and "2 links" in links.spam_reason
    assert known.state == "approved" and "known author" in known.spam_reason
    assert stranger.state == "pending"


def test_articles_are_reread_when_content_changes(site):
    _settings, server = serve(site, REPLIK_CONTENT_POLL=0)
    with server as (base, _):
        with client(base) as http:
            before = http.post("/replik/comment", data=form(article="ganz-neu"), headers=JSON)
            (site / "content" / "neu.md").write_text(
                "Title: Ganz neu\nDate: 2026-04-01 10:00\nSlug: ganz-neu\n\nText.\n")
            after = http.post("/replik/comment", data=form(article="ganz-neu"), headers=JSON)
    assert before.status_code == 404
    assert after.status_code == 201


def test_preview_renders_like_the_site(site):
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            answer = http.post("/replik/preview", headers=JSON, data=form(
                body="**fett** <script>alert(1)</script> http://example.org"))
            evil = http.post("/replik/preview", data=form(),
                             headers={"Origin": "https://evil.example"})
    assert answer.status_code == 200
    data = answer.json()
    assert "<strong>fett</strong>" in data["body_html"]
    assert "<script>" not in data["html"] and "&lt;script&gt;" in data["html"]
    assert 'rel="nofollow ugc"' in data["html"]
    assert 'class="comment"' in data["html"] and "Erika Muster" in data["html"]
    assert "comment-reply" not in data["html"]
    assert evil.status_code == 403


def test_get_form_page_and_unknown_routes(site):
    parent = approved(site / "comments", "offene-debatte")
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            page = http.get(f"/replik/comment?article=offene-debatte&reply_to={parent.id}")
            missing = http.get("/replik/comment?article=nope")
            wrong_method = http.put("/replik/comment")
    assert page.status_code == 200
    assert f'name="reply_to" value="{parent.id}"' in page.text
    assert missing.status_code == 404 and "Traceback" not in missing.text
    assert wrong_method.status_code == 405


def test_one_click_links(site, monkeypatch):
    monkeypatch.setenv("REPLIK_SECRET_KEY", "test-secret")
    from replik import tokens

    settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            entry_id = http.post("/replik/comment", data=form(), headers=JSON).json()["id"]
            token = tokens.make_action(settings, "approve", entry_id)
            path = "/replik/action/" + token
            confirm = http.get(path)
            assert Store(site / "comments").get(entry_id).state == "pending"  # GET changes nothing
            done = http.post(path)
            again = http.post(path)
            again_get = http.get(path)
            expired = tokens.make_action(settings, "spam", entry_id, now=time.time() - 8 * 86400)
            old = http.get("/replik/action/" + expired)
            tampered = http.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
            cross = http.post("/replik/action/" + tokens.make_action(settings, "spam", entry_id),
                              headers={"Origin": "https://evil.example"})
    assert confirm.status_code == 200 and "<form method=\"post\"" in confirm.text
    assert "Diesen Kommentar freigeben" in confirm.text
    assert "erika@example.org" not in confirm.text  # private fields stay private
    assert done.status_code == 200 and "freigegeben" in done.text
    assert Store(site / "comments").get(entry_id).state == "approved"
    assert again.status_code == 410 and again_get.status_code == 410
    assert old.status_code == 410 and "abgelaufen" in old.text
    assert tampered.status_code == 404
    assert cross.status_code == 403
    assert Store(site / "comments").get(entry_id).state == "approved"


def test_token_expiry_default_is_seven_days(site, monkeypatch):
    monkeypatch.setenv("REPLIK_SECRET_KEY", "k")
    from replik import tokens

    settings = make_settings(site)
    now = time.time()
    token = tokens.make_action(settings, "spam", "20260101T000000000000Z-deadbeef", now=now)
    assert tokens.read_action(settings, token, now=now + 7 * 86400 - 5).action == "spam"
    with pytest.raises(tokens.TokenError) as caught:
        tokens.read_action(settings, token, now=now + 7 * 86400 + 5)
    assert caught.value.reason == "expired"
    monkeypatch.setenv("REPLIK_SECRET_KEY", "another key")
    with pytest.raises(tokens.TokenError) as caught:
        tokens.read_action(settings, token, now=now)
    assert caught.value.reason == "invalid"


def test_one_click_links_live_at_replik_action_url(site, monkeypatch):
    """REPLIK_ACTION_URL moves the route with the mailed links (notify.action_url)."""
    monkeypatch.setenv("REPLIK_SECRET_KEY", "k")
    from replik import notify, tokens

    settings, server = serve(site, REPLIK_ACTION_URL="/mod/link/")
    with server as (base, _):
        with client(base) as http:
            entry_id = http.post("/replik/comment", data=form(), headers=JSON).json()["id"]
            url = notify.action_url(settings, tokens.make_action(settings, "trash", entry_id))
            page = http.get(url.replace(settings.siteurl, ""))
            old_place = http.get("/replik/action/" + url.rsplit("/", 1)[1])
    assert url.startswith(settings.siteurl + "/mod/link/")
    assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
    assert "Diesen Kommentar in den Papierkorb" in page.text
    assert old_place.status_code == 404


def test_serve_app_serves_the_built_site(site):
    from sitebuilder import build_site

    from replik.cli.server import build_local_app

    settings = make_settings(site)
    build_site(settings)
    with live_server(build_local_app(settings)) as (base, _):
        with client(base) as http:
            home = http.get("/")
            article = http.get("/2026/offene-debatte/")
            redirect = http.get("/2026/offene-debatte")
            outside = http.get("/../pelicanconf.py")
            post = http.post("/replik/comment", data=form())
    assert home.status_code == 200 and "Offene Debatte" in home.text
    assert article.status_code == 200 and 'id="respond"' in article.text
    assert redirect.status_code == 301
    assert outside.status_code == 404
    assert post.status_code == 303


def test_replik_serve_command_says_what_protects_it(site):
    import subprocess
    import sys

    import httpx
    from liveserver import free_port
    from test_intake_support import write_conf

    conf = write_conf(site)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REPLIK_SECRET_KEY"}
    replik = Path(sys.executable).with_name("replik")
    process = subprocess.Popen(
        [str(replik), "--settings", str(conf), "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Comment form posts to" in line:
                break
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/replik/comment", data=form(),
                                    headers=JSON, timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(10)
    text = "".join(lines)
    assert "Akismet: off: PYTHON_AKISMET_API_KEY and PYTHON_AKISMET_BLOG_URL" in text
    assert "Email to moderators: off" in text
    assert "Local rules: honeypot, flood control 5/min" in text
    assert "build the site first" in text
    assert answer.status_code == 201


def test_every_json_refusal_has_one_shape(site):
    """Intake, preview and the app's own errors refuse in one JSON shape: ok false, a
    message, and per field what to correct."""
    _settings, server = serve(site, REPLIK_MAX_LENGTH=20)
    with server as (base, _):
        with client(base) as http:
            answers = {
                "intake": http.post("/replik/comment", data=form(body=""), headers=JSON),
                "preview": http.post("/replik/preview", data=form(body="x" * 21), headers=JSON),
                "foreign preview": http.post("/replik/preview", data=form(),
                                             headers={**JSON, "Origin": "https://evil.example"}),
                "unknown address": http.get("/replik/nichts", headers=JSON),
            }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {"intake": 422, "preview": 422, "foreign preview": 403,
                        "unknown address": 404}
    for name, answer in answers.items():
        data = answer.json()
        assert sorted(data) == ["errors", "message", "ok"], name
        assert data["ok"] is False and data["message"], name
        assert isinstance(data["errors"], dict), name
    assert "body" in answers["intake"].json()["errors"]
    preview = answers["preview"].json()
    assert preview["errors"]["body"] == preview["message"]
    assert "20" in preview["message"]


def test_json_answers_are_what_jsonify_gives_and_set_no_session_cookie(site):
    """The intake's JSON answers are built without jsonify but are the same bytes; a
    reader's POST carries no desk cookie and gets none (nor a Vary: Cookie)."""
    settings = make_settings(site)
    app = create_app(settings=settings)
    with app.test_request_context():
        from flask import jsonify

        from replik.server.responses import json_response
        data = {"ok": True, "id": "x", "message": "Danke – schön", "state": "pending"}
        mine, flasks = json_response(data, 201), jsonify(data)
        assert mine.get_data() == flasks.get_data()
        assert mine.mimetype == flasks.mimetype == "application/json"
        assert mine.status_code == 201
    _settings, server = serve(site)
    with server as (base, _):
        with client(base) as http:
            ok = http.post("/replik/comment", json=form(), headers=JSON)
            bad = http.post("/replik/comment", json=form(body=""), headers=JSON)
    assert ok.status_code == 201 and bad.status_code == 422
    for answer in (ok, bad):
        assert "set-cookie" not in answer.headers
        assert "cookie" not in answer.headers.get("vary", "").lower()
        assert answer.headers["content-type"] == "application/json"
        assert answer.text.endswith("\n") and json.loads(answer.text)["ok"] in (True, False)


def test_the_servers_long_lived_objects_are_kept_out_of_full_collections(site):
    """After start-up what lives on is frozen (a full collection then walks only what
    requests made since); settling again first collects what became garbage, so an
    old article index is never kept frozen."""
    import gc
    import weakref

    from replik import heap

    create_app(settings=make_settings(site))
    assert gc.get_freeze_count() > 1000  # the app and its article index

    class Node:
        pass

    old = Node()
    old.cycle = old  # only the collector can free it
    gone = weakref.ref(old)
    heap.settle()
    assert gone() is not None  # still referenced: frozen with the rest
    del old
    heap.settle()
    assert gone() is None
