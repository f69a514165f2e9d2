"""Moderator notifications: real SMTP on loopback (aiosmtpd), a webhook, one-click links."""

from __future__ import annotations

import json
import re
import threading
import time
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from liveserver import free_port, live_server
from test_intake_support import SpamClient, client, form, make_settings
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from replik import notify, tokens
from replik.server.app import create_app
from replik.state import open_state
from replik.store import Store

JSON = {"Accept": "application/json"}


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        self.messages.append((envelope.rcpt_tos, message_from_bytes(
            envelope.content, policy=policy.default)))
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 10) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


def notices_sent() -> None:
    """Wait until every notice the app began has gone out: the intake starts its
    notice thread before it answers, so after the answer there is nothing else to wait for."""
    for thread in threading.enumerate():
        if thread.name.startswith("replik-notify-"):
            thread.join(30)


@pytest.fixture
def smtp(monkeypatch):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("REPLIK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REPLIK_SMTP_PORT", str(port))
    monkeypatch.setenv("REPLIK_SMTP_FROM", "blog@example.org")
    monkeypatch.setenv("REPLIK_SECRET_KEY", "notify-test-key")
    monkeypatch.delenv("PYTHON_AKISMET_API_KEY", raising=False)
    monkeypatch.delenv("PYTHON_AKISMET_BLOG_URL", raising=False)
    yield inbox
    controller.stop()


def test_new_comment_mails_moderators_in_german_with_working_links(tmp_path, smtp):
    with live_server() as (base, holder):
        settings = make_settings(tmp_path, siteurl=base,
                                 REPLIK_NOTIFY_EMAILS=["mod@example.org", "chef@example.org"])
        holder.app = create_app(settings=settings)
        status = notify.mail_status(settings)
        assert status.startswith("on: to mod@example.org") and status.endswith(
            ", with one-click links"), status
        with client(base) as http:
            entry_id = http.post("/replik/comment", headers=JSON, data=form(
                body="Sehr interessant!", url="https://erika.example")).json()["id"]
            [(recipients, message)] = smtp.wait()
            text = message.get_content().replace("\r\n", "\n")
            links = dict(re.findall(r"^(Freigeben|Als Spam markieren): (\S+)$", text, re.M))
            approve = links["Freigeben"]
            assert approve.startswith(base + "/replik/action/")
            confirm = http.get(approve)
            assert Store(tmp_path / "comments").get(entry_id).state == "pending"
            done = http.post(approve)
            reused = http.post(approve)
    assert sorted(recipients) == ["chef@example.org", "mod@example.org"]
    assert message["Subject"] == (
        "[Dialogfeld] Neuer Kommentar zu „Offene Debatte“ wartet auf Freigabe")
    assert message["From"] == "blog@example.org"
    assert "Sehr interessant!" in text
    assert "Autor: Erika Muster" in text and "E-Mail: erika@example.org" in text
    assert "Spamprüfung: ham" in text
    assert "nach 7 Tagen ab" in text
    assert f"{base}/2026/offene-debatte/" in text
    assert confirm.status_code == 200 and done.status_code == 200
    assert reused.status_code == 410
    assert Store(tmp_path / "comments").get(entry_id).state == "approved"


def test_spam_is_not_mailed(tmp_path, smtp):
    settings = make_settings(tmp_path, REPLIK_NOTIFY_EMAILS=["mod@example.org"],
                             REPLIK_AKISMET_CLIENT=SpamClient)
    with live_server(create_app(settings=settings)) as (base, _):
        with client(base) as http:
            assert http.post("/replik/comment", data=form(), headers=JSON).status_code == 201
            assert http.post("/replik/comment", data=form(body="b", homepage="x"),
                             headers=JSON).status_code == 201
    notices_sent()
    assert smtp.messages == []


def test_smtp_failure_keeps_the_comment(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("REPLIK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REPLIK_SMTP_PORT", str(free_port()))  # nobody listens
    settings = make_settings(tmp_path, REPLIK_NOTIFY_EMAILS=["mod@example.org"])
    entry = None
    with live_server(create_app(settings=settings)) as (base, _):
        with client(base) as http:
            answer = http.post("/replik/comment", data=form(), headers=JSON)
            entry = Store(tmp_path / "comments").get(answer.json()["id"])
    report = notify.notify(settings, entry, "Offene Debatte")
    assert answer.status_code == 201
    assert report["email"].startswith("failed")


def test_mail_off_without_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLIK_SMTP_HOST", raising=False)
    settings = make_settings(tmp_path, REPLIK_NOTIFY_EMAILS=["mod@example.org"])
    assert notify.mail_status(settings) == "off: REPLIK_SMTP_HOST is not set"
    assert "REPLIK_NOTIFY_EMAILS" in notify.mail_status(make_settings(tmp_path))


def test_enabled_needs_a_host_and_recipients_or_a_webhook(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLIK_SMTP_HOST", raising=False)
    mods = make_settings(tmp_path, REPLIK_NOTIFY_EMAILS=["mod@example.org"])
    assert not notify.enabled(mods)
    assert notify.enabled(make_settings(tmp_path, REPLIK_WEBHOOK_URL="http://127.0.0.1:9/"))
    monkeypatch.setenv("REPLIK_SMTP_HOST", "127.0.0.1")
    assert notify.enabled(mods)  # read from the environment at each call
    assert not notify.enabled(make_settings(tmp_path, REPLIK_NOTIFY_EMAILS=[]))


class Hook:
    def __init__(self) -> None:
        self.received: list[dict] = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.received.append(json.loads(request.get_data()))
        return Response("ok", content_type="text/plain")(environ, start_response)


def test_webhook_gets_json_without_private_fields(tmp_path, smtp):
    hook = Hook()
    server = make_server("127.0.0.1", 0, hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = make_settings(
            tmp_path, REPLIK_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/hook",
            REPLIK_FETCH_ALLOW_PRIVATE=["127.0.0.1"])
        with live_server(create_app(settings=settings)) as (base, _):
            with client(base) as http:
                http.post("/replik/comment", data=form(body="Für den Chat"), headers=JSON)
            deadline = time.monotonic() + 10
            while not hook.received and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        server.shutdown()
    [payload] = hook.received
    assert payload["event"] == "replik.new_entry"
    assert payload["entry"]["excerpt"] == "Für den Chat"
    assert payload["text"].startswith("Neuer Kommentar von Erika Muster zu „Offene Debatte“")
    assert set(payload["links"]) == {"approve", "spam"}
    flat = json.dumps(payload)
    assert "erika@example.org" not in flat and "127.0.0.1\"" not in flat.replace(
        f"127.0.0.1:{server.server_port}", "")


def test_tokens_work_once_across_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLIK_SECRET_KEY", "k")
    settings = make_settings(tmp_path)
    token = tokens.make_action(settings, "approve", "20260101T000000000000Z-deadbeef")
    claim = tokens.read_action(settings, token)
    tokens.spend(settings, claim)
    with pytest.raises(tokens.TokenError):
        tokens.spend(settings, claim)
    with pytest.raises(tokens.TokenError) as caught:
        tokens.read_action(settings, token)
    assert caught.value.reason == "used"
    assert open_state(settings).execute("SELECT expires FROM used_links").fetchall() == [
        (claim.expires,)]  # the row may go when the link expires


def _spend(settings, token, start, results):
    claim = tokens.read_action(settings, token)
    start.wait()
    try:
        tokens.spend(settings, claim)
        results.put("won")
    except tokens.TokenError as exc:
        results.put(exc.reason)


def test_of_two_processes_using_a_link_at_once_exactly_one_wins(tmp_path, monkeypatch):
    import multiprocessing

    monkeypatch.setenv("REPLIK_SECRET_KEY", "k")
    settings = make_settings(tmp_path)
    token = tokens.make_action(settings, "approve", "20260101T000000000000Z-deadbeef")
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_spend, args=(settings, token, start, results))
             for _ in range(4)]
    for proc in procs:
        proc.start()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(30)
    assert outcomes == ["used", "used", "used", "won"]
    with pytest.raises(tokens.TokenError):
        tokens.read_action(settings, token)


def test_used_links_of_an_older_version_stay_used(tmp_path, monkeypatch):
    """Before the state file, a used link was a marker file in the cache
    (.replik-cache/used-links/<nonce>-<entry>); they move into the state file."""
    from replik.settings import cache_path

    monkeypatch.setenv("REPLIK_SECRET_KEY", "k")
    settings = make_settings(tmp_path)
    token = tokens.make_action(settings, "spam", "20260101T000000000000Z-deadbeef")
    other = tokens.make_action(settings, "approve", "20260101T000000000000Z-deadbeef")
    claim = tokens.read_action(settings, token)
    folder = cache_path(settings) / "used-links"
    folder.mkdir(parents=True)
    (folder / f"{claim.nonce}-{claim.entry_id}").write_text(str(claim.expires))
    from replik import state as state_module

    state_module._open.clear()  # a process started after the upgrade
    with pytest.raises(tokens.TokenError) as caught:
        tokens.read_action(settings, token)
    assert caught.value.reason == "used"
    assert not folder.exists()
    tokens.spend(settings, tokens.read_action(settings, other))  # another link works


def test_no_links_without_a_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("REPLIK_SECRET_KEY", raising=False)
    settings = make_settings(tmp_path)
    with pytest.raises(tokens.TokenError) as caught:
        tokens.make_action(settings, "approve", "20260101T000000000000Z-deadbeef")
    assert caught.value.reason == "nokey"


# -- the links act only by POST, only from the state they were sent for --------------------

LINK_SECRET = "notify-link-key"


@pytest.fixture
def links(tmp_path, monkeypatch):
    """A running app (no desk rebuilds), a pending entry, and its mailed links."""
    monkeypatch.setenv("REPLIK_SECRET_KEY", LINK_SECRET)
    with live_server() as (base, holder):
        settings = make_settings(tmp_path, siteurl=base, REPLIK_REBUILD=False)
        holder.app = create_app(settings=settings)
        with client(base) as http:
            entry_id = http.post("/replik/comment", data=form(), headers=JSON).json()["id"]
            entry = Store(tmp_path / "comments").get(entry_id)
            notice = notify.build_notice(settings, entry, "Offene Debatte")
            yield http, settings, entry, notice.links


def trail(settings) -> list[tuple]:
    from replik.settings import store_path
    from replik.store import Store

    return [(a["actor"], a["action"], a["from"], a["to"]) for a in Store(store_path(settings)).audit_trail()]


def test_head_on_a_link_changes_nothing(links):
    http, settings, entry, urls = links
    for url in urls.values():
        answer = http.head(url)  # what `curl -I` and link scanners in mail programs send
        assert answer.status_code == 200
    assert Store(settings.store).get(entry.id).state == "pending"
    assert trail(settings) == []
    assert http.post(urls["spam"]).status_code == 200  # not used up by the HEAD
    assert Store(settings.store).get(entry.id).state == "spam"


def test_an_old_link_does_not_override_a_later_decision(links):
    from replik.moderation import Moderation

    http, settings, entry, urls = links
    Moderation(settings, actor="anna").decide("spam", entry.id, expected="pending")  # the desk
    page = http.get(urls["approve"])
    assert page.status_code == 409
    assert "Bereits von anna entschieden" in page.text and "<form method=\"post\"" not in page.text
    answer = http.post(urls["approve"])
    assert answer.status_code == 409 and "als Spam markiert" in answer.text
    assert Store(settings.store).get(entry.id).state == "spam"
    assert trail(settings) == [("anna", "spam", "pending", "spam")]


def test_link_pages_cannot_be_framed(links):
    http, _settings, _entry, urls = links
    answers = [http.get(urls["approve"]), http.get("/replik/action/kaputt"),
               http.post(urls["approve"], headers={"Origin": "https://evil.example"})]
    assert [a.status_code for a in answers] == [200, 404, 403]
    for answer in answers:
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_a_link_on_a_full_disk_changes_nothing_and_can_be_used_later(links, monkeypatch):
    from test_store import audit_disk_full

    http, settings, entry, urls = links
    with monkeypatch.context() as patch:
        audit_disk_full(patch)
        answer = http.post(urls["approve"])
    assert answer.status_code == 503 and "Es wurde nichts geändert" in answer.text
    assert Store(settings.store).get(entry.id).state == "pending"
    assert trail(settings) == []
    assert http.post(urls["approve"]).status_code == 200  # the disk has room again
    assert trail(settings) == [("email-link", "approve", "pending", "approved")]
