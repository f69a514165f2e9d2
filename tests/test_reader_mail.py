"""Reply notifications for readers: double opt-in, the mails, the queue, the links.

Real SMTP on loopback (aiosmtpd, the ``smtp`` fixture of test_notify), the app
through a live server on loopback, the store and the state file on disk.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from liveserver import live_server
from test_intake_support import approved, client, form, make_settings
from test_notify import Inbox, smtp  # noqa: F401 - the fixture

from replik import notify, reader_mail, tokens
from replik.moderation import Moderation
from replik.server.app import create_app
from replik.state import open_state
from replik.store import Entry, Store, new_id
from replik.subscriptions import CONFIRM_TTL

JSON = {"Accept": "application/json"}


@pytest.fixture(autouse=True)
def _no_senders_left():
    yield
    reader_mail.stop_workers()  # a sender of this test must not send the next one's mail


class Crash(BaseException):
    """A sender that dies (a killed process), not an error it could handle."""


def _text(message) -> str:
    part = message.get_body(("plain",))
    return part.get_content().replace("\r\n", "\n")


def _link(text: str, base: str, path: str) -> str:
    match = re.search(re.escape(base + path) + r"\S+", text)
    assert match, text
    return match.group(0)


def _settings(tmp_path, base: str = "http://127.0.0.1:8000", **extra):
    extra.setdefault("REPLIK_NOTIFY_BATCH_MINUTES", 0)
    extra.setdefault("REPLIK_REBUILD", False)
    return make_settings(tmp_path, siteurl=base, **extra)


def _subscribe(settings, email="erika@example.org", scope="replies", entry="", now=None):
    article = type("A", (), {"slug": "offene-debatte", "title": "Offene Debatte",
                             "permalink": "http://127.0.0.1:8000/2026/offene-debatte/",
                             "lang": "de"})()
    return reader_mail.request(settings, email=email, name="Erika", article=article,
                               scope=scope, entry=entry, origin=entry, now=now)


def _confirm_all(settings) -> None:
    state = open_state(settings)
    for sub in state.subscriptions.listing():
        state.subscriptions.confirm(sub.id)
    # The confirmation mails are not part of what these tests count.
    state.execute("DELETE FROM outbox WHERE kind = 'confirm'")


# -- the whole way, over HTTP ---------------------------------------------------------------
def test_comment_confirm_notify_unsubscribe(tmp_path, smtp):  # noqa: F811
    with live_server() as (base, holder):
        settings = _settings(tmp_path, base)
        holder.app = create_app(settings=settings)
        store = Store(tmp_path / "comments")
        with client(base) as http:
            answer = http.post("/replik/comment", headers=JSON, data=form(
                notify="yes", notify_scope="replies", author="Erika Muster"))
            assert answer.status_code == 201
            assert answer.json()["subscription"] == "new"
            assert "bestätigen" in answer.json()["message"]
            comment_id = answer.json()["id"]
            [(to, confirmation)] = smtp.wait(1)
            assert to == ["erika@example.org"]
            assert confirmation["Auto-Submitted"] == "auto-generated"
            assert "Offene Debatte" in confirmation["Subject"]
            link = _link(_text(confirmation), base, "/replik/subscribe/confirm/")
            state = open_state(settings)
            # GET and HEAD show a page; they never confirm.
            page = http.get(link)
            assert page.status_code == 200 and "<form method=\"post\"" in page.text
            assert page.headers["x-frame-options"] == "DENY"  # server/links.py, as for
            assert page.headers["cache-control"] == "no-store"  # moderators' links
            assert http.head(link).status_code == 200
            [sub] = state.subscriptions.listing()
            assert sub.confirmed is None
            # An answer now reaches nobody: not confirmed, and the comment is pending.
            Moderation(settings).decide("approve", comment_id)
            assert state.outbox.listing("queued") == []
            done = http.post(link)
            assert done.status_code == 200 and "Bestätigt" in done.text
            assert state.subscriptions.get(sub.id).confirmed is not None

            reply = Moderation(settings, actor="redaktion").reply(
                comment_id, "Danke, wir *prüfen* das.", author="Jana Redaktion").entry
            [_, (to, mail)] = smtp.wait(2)
            assert to == ["erika@example.org"]
            assert mail["To"] == "Erika Muster <erika@example.org>"
            assert mail["Auto-Submitted"] == "auto-generated"
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert mail["Message-ID"] and mail["In-Reply-To"] == mail["References"]
            assert mail["Subject"] == (
                "[Dialogfeld] Jana Redaktion (Redaktion) hat auf „Offene Debatte“ geantwortet")
            text = _text(mail)
            assert "Danke, wir *prüfen* das." in text
            assert f"{base}/2026/offene-debatte/#comment-{reply.id}" in text
            html = mail.get_body(("html",)).get_content()
            assert "<em>prüfen</em>" in html
            unsubscribe = mail["List-Unsubscribe"].strip("<>")
            assert unsubscribe.startswith(base + "/replik/unsubscribe/")
            assert "erika" not in unsubscribe  # the link names no address

            # A mail program's one-click POST: no Origin, no CSRF token.
            with client(base) as bare:
                bare.headers.pop("Origin")
                gone = bare.post(unsubscribe, content="List-Unsubscribe=One-Click",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert gone.status_code == 200 and gone.headers["x-frame-options"] == "DENY"
            assert state.subscriptions.listing() == []
            Moderation(settings, actor="redaktion").reply(comment_id, "Noch etwas.")
            assert state.outbox.listing("queued") == []
            assert reader_mail.deliver(settings)["sent"] == 0
    assert len(smtp.messages) == 2
    assert store.get(comment_id).state == "approved"
    # The dialogue report: one of two staff answers reached a subscriber; the one
    # reader comment's author subscribed.
    from datetime import timedelta

    from replik.report import build_report

    now = datetime.now(UTC)
    overall = build_report(settings, now - timedelta(days=1), now + timedelta(days=1),
                           entries=list(store.all_entries()))["overall"]
    assert (overall["staff_answers"], overall["answers_delivered"]) == (2, 1)
    assert (overall["subscribed"], overall["subscribed_share"]) == (1, 1.0)


def test_email_is_required_only_with_the_box(tmp_path):
    with live_server(create_app(settings=_settings(tmp_path))) as (base, _):
        with client(base) as http:
            plain = http.post("/replik/comment", headers=JSON, data=form(email=""))
            ticked = http.post("/replik/comment", headers=JSON,
                               data=form(email="", notify="yes", body="Anders."))
    assert plain.status_code == 201
    assert ticked.status_code == 422 and "email" in ticked.json()["errors"]


# -- who gets what ----------------------------------------------------------------------
def test_only_confirmed_subscribers_and_never_the_author(tmp_path, smtp):  # noqa: F811
    settings = _settings(tmp_path)
    store_root = tmp_path / "comments"
    parent = approved(store_root, "offene-debatte", email="erika@example.org")
    assert _subscribe(settings, entry=parent.id) == "new"
    assert _subscribe(settings, email="Max@Example.org", scope="all") == "new"
    assert _subscribe(settings, email="late@example.org", scope="all") == "new"
    state = open_state(settings)
    for sub in state.subscriptions.listing():
        if sub.email != "late@example.org":
            state.subscriptions.confirm(sub.id)
    state.execute("DELETE FROM outbox WHERE kind = 'confirm'")
    # Max answers Erika himself: Erika hears it, Max (the author) does not, the
    # unconfirmed address does not.
    answer = Entry(id=new_id(), article="offene-debatte", body="Ich auch.",
                   date=datetime.now(UTC), author="Max", email="max@example.ORG ",
                   reply_to=parent.id)
    Store(store_root).add(answer, "pending")
    Moderation(settings).decide("approve", answer.id)
    queued = state.outbox.listing("queued")
    assert [m.email for m in queued] == ["erika@example.org"]
    # Editing an approved entry sends nothing; spam sends nothing.
    Moderation(settings).edit(answer.id, "Ich auch, wirklich.")
    spam = Entry(id=new_id(), article="offene-debatte", body="Kauf!", date=datetime.now(UTC),
                 author="X", reply_to=parent.id)
    Store(store_root).add(spam, "pending")
    Moderation(settings).decide("spam", spam.id)
    assert [m.entries for m in state.outbox.listing("queued")] == [[answer.id]]


def test_three_answers_in_the_window_make_one_mail(tmp_path, smtp):  # noqa: F811
    settings = _settings(tmp_path, REPLIK_NOTIFY_BATCH_MINUTES=10)
    store_root = tmp_path / "comments"
    parent = approved(store_root, "offene-debatte")
    _subscribe(settings, entry=parent.id)
    _confirm_all(settings)
    t0 = time.time()
    answers = []
    for minute in (0, 3, 7):
        entry = Entry(id=new_id(), article="offene-debatte", body=f"Antwort {minute}",
                      date=datetime.now(UTC), author="Redaktion", staff=True,
                      reply_to=parent.id)
        Store(store_root).add(entry, "approved")
        assert reader_mail.on_approved(settings, entry, now=t0 + minute * 60) == 1
        answers.append(entry)
    assert reader_mail.deliver(settings, now=t0 + 9 * 60)["sent"] == 0  # window still open
    assert reader_mail.deliver(settings, now=t0 + 10 * 60 + 1)["sent"] == 1
    [(_, mail)] = smtp.wait(1)
    assert "3 neue Antworten" in mail["Subject"]
    text = _text(mail)
    assert all(f"Antwort {m}" in text for m in (0, 3, 7))
    assert reader_mail.deliver(settings, now=t0 + 3600)["sent"] == 0
    assert len(smtp.messages) == 1
    facts = open_state(settings).subscriptions.facts()["delivered"]
    assert facts == {a.id: 1 for a in answers}


# -- the queue survives a crash ------------------------------------------------------------
def _one_queued(settings, tmp_path):
    parent = approved(tmp_path / "comments", "offene-debatte")
    _subscribe(settings, entry=parent.id)
    _confirm_all(settings)
    reply = Moderation(settings).reply(parent.id, "Eine Antwort.")
    return reply.entry


def test_a_crash_between_send_and_record_does_not_send_twice(tmp_path, smtp):  # noqa: F811
    settings = _settings(tmp_path)
    _one_queued(settings, tmp_path)

    def die(mail):
        raise Crash()

    with pytest.raises(Crash):
        reader_mail.deliver(settings, after_accept=die)
    assert len(smtp.wait(1)) == 1
    state = open_state(settings)
    [row] = state.outbox.listing()
    assert row.status == "sending"
    later = time.time() + reader_mail.LEASE_SECONDS + 1  # the next start, lease run out
    assert reader_mail.deliver(settings, now=later)["sent"] == 0
    assert state.outbox.listing()[0].status == "uncertain"
    assert len(smtp.messages) == 1
    # The operator may send it again on purpose: the same Message-ID.
    assert state.outbox.retry(row.id)
    assert reader_mail.deliver(settings, now=later)["sent"] == 1
    first, second = (m for _, m in smtp.wait(2))
    assert first["Message-ID"] == second["Message-ID"]


def test_a_crash_before_sending_sends_once_after_the_lease(tmp_path, smtp):  # noqa: F811
    settings = _settings(tmp_path)
    _one_queued(settings, tmp_path)
    state = open_state(settings)
    [claimed] = state.outbox.claim(limit=10, lease=reader_mail.LEASE_SECONDS)
    assert reader_mail.deliver(settings)["sent"] == 0  # still claimed by the dead sender
    later = time.time() + reader_mail.LEASE_SECONDS + 1
    assert reader_mail.deliver(settings, now=later)["sent"] == 1
    assert reader_mail.deliver(settings, now=later + 1)["sent"] == 0
    assert len(smtp.wait(1)) == 1
    assert state.outbox.listing()[0].status == "sent"


def test_smtp_failure_is_retried_with_backoff(tmp_path, smtp, monkeypatch):  # noqa: F811
    settings = _settings(tmp_path)
    _one_queued(settings, tmp_path)
    port = notify.smtp_config()["port"]
    from liveserver import free_port

    monkeypatch.setenv("REPLIK_SMTP_PORT", str(free_port()))  # nobody listens
    assert reader_mail.deliver(settings)["retry"] == 1
    state = open_state(settings)
    [row] = state.outbox.listing()
    assert row.status == "queued" and row.due > time.time() + 30 and row.error
    monkeypatch.setenv("REPLIK_SMTP_PORT", str(port))
    assert reader_mail.deliver(settings)["sent"] == 0  # not due yet
    assert reader_mail.deliver(settings, now=row.due + 1)["sent"] == 1
    assert len(smtp.wait(1)) == 1


# -- security ---------------------------------------------------------------------------
def test_links_are_bound_to_address_and_thread(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLIK_SECRET_KEY", "k")
    settings = _settings(tmp_path)
    _subscribe(settings, email="a@example.org", scope="all")
    state = open_state(settings)
    [first] = state.subscriptions.listing()
    state.execute("DELETE FROM subscriptions")  # a second request is allowed
    _subscribe(settings, email="b@example.org", scope="all")
    [other] = state.subscriptions.listing()
    token = reader_mail.confirm_token(first)
    # The same signature on another subscription's id: refused.
    forged_payload = tokens.sign("confirm", other.id, "forged").split(".")[0]
    forged = forged_payload + "." + token.split(".", 1)[1]
    with pytest.raises(tokens.TokenError):
        reader_mail.read_confirm_token(state, forged)
    # A token made for another address or thread does not confirm this one.
    wrong = tokens.sign("confirm", other.id, "a@example.org\noffene-debatte\nall\n")
    with pytest.raises(tokens.TokenError):
        reader_mail.read_confirm_token(state, wrong)
    good = reader_mail.confirm_token(other)
    assert reader_mail.read_confirm_token(state, good).id == other.id
    # Expired after 7 days.
    old = reader_mail.confirm_token(other, now=time.time() - CONFIRM_TTL - 10)
    with pytest.raises(tokens.TokenError):
        reader_mail.read_confirm_token(state, old)
    # An unsubscribe link for b does not unsubscribe anyone else.
    assert reader_mail.read_unsubscribe_token(
        state, reader_mail.unsubscribe_token("c@example.org", "offene-debatte"))[2] is False


def test_crlf_in_names_never_reaches_headers(tmp_path, smtp):  # noqa: F811
    with live_server() as (base, holder):
        settings = _settings(tmp_path, base)
        holder.app = create_app(settings=settings)
        with client(base) as http:
            # The intake refuses line breaks in one-line fields: nothing is stored or mailed.
            refused = http.post("/replik/comment", headers=JSON, data=form(
                notify="yes", author="Eve\r\nBcc: victim@example.net"))
            assert refused.status_code == 422
            answer = http.post("/replik/comment", headers=JSON, data=form(
                notify="yes", author="Eve"))
            assert answer.status_code == 201
            [(to, mail)] = smtp.wait(1)
    assert to == ["erika@example.org"]
    assert mail["Bcc"] is None and "\n" not in mail["To"]
    state = open_state(settings)
    assert len(state.subscriptions.listing()) == 1
    state.subscriptions.confirm(state.subscriptions.listing()[0].id)
    moderation = Moderation(settings)
    moderation.decide("approve", answer.json()["id"])
    moderation.reply(answer.json()["id"], "Antwort.",
                     author="Mallory\r\nBcc: victim@example.net")
    reader_mail.deliver(settings)  # or the app's sender thread does it
    [_, (to, notice)] = smtp.wait(2)
    assert to == ["erika@example.org"]
    assert notice["Bcc"] is None and "\n" not in notice["Subject"]
    assert "Mallory Bcc: victim@example.net" in notice["Subject"]


def test_the_form_cannot_mail_an_address_again_and_again(tmp_path, smtp):  # noqa: F811
    with live_server() as (base, holder):
        settings = _settings(tmp_path, base, REPLIK_FLOOD_PER_MINUTE=0)
        holder.app = create_app(settings=settings)
        with client(base) as http:
            outcomes = [http.post("/replik/comment", headers=JSON, data=form(
                notify="yes", email="victim@example.net", body=f"Text {i}",
                notify_scope="all" if i % 2 else "replies")).json()["subscription"]
                for i in range(4)]
            page = http.post("/replik/subscribe", data={
                "article": "offene-debatte", "email": "VICTIM@example.net", "consent": "yes"})
        smtp.wait(1)
    assert outcomes == ["new", "waiting", "waiting", "waiting"]
    assert page.status_code == 200
    state = open_state(settings)
    assert [m.kind for m in state.outbox.listing()] == ["confirm"]
    assert len(smtp.messages) == 1
    # Once the link is used, the address may ask for more.
    state.subscriptions.confirm(state.subscriptions.listing()[0].id)
    assert _subscribe(settings, email="victim@example.net", scope="all") == "new"


def test_subscribe_without_commenting(tmp_path, smtp):  # noqa: F811
    with live_server() as (base, holder):
        settings = _settings(tmp_path, base)
        holder.app = create_app(settings=settings)
        with client(base) as http:
            page = http.get("/replik/subscribe", params={"article": "offene-debatte"})
            missing = http.post("/replik/subscribe", data={"article": "offene-debatte",
                                                            "email": "leser@example.org"})
            done = http.post("/replik/subscribe", data={
                "article": "offene-debatte", "email": "leser@example.org", "consent": "yes"})
            [(_, mail)] = smtp.wait(1)
            link = _link(_text(mail), base, "/replik/subscribe/confirm/")
            http.post(link)
    assert page.status_code == 200 and 'name="email"' in page.text
    assert missing.status_code == 422
    assert done.status_code == 202
    [sub] = open_state(settings).subscriptions.listing()
    assert sub.scope == "all" and sub.confirmed is not None


# -- the command line: subscriptions, the queue, personal data -------------------------------
def _cli(conf, *args, ok=True):
    from click.testing import CliRunner

    from replik.cli import main

    result = CliRunner().invoke(main, ["--settings", str(conf), *args])
    assert (result.exit_code == 0) == ok, result.output
    return result


def test_cli_lists_removes_exports_forgets_and_sends(tmp_path, smtp):  # noqa: F811
    import json

    from test_intake_support import write_conf

    from replik.settings import load_settings

    conf = write_conf(tmp_path, REPLIK_NOTIFY_BATCH_MINUTES=0)
    settings = load_settings(conf)
    parent = approved(tmp_path / "comments", "offene-debatte", email="erika@example.org")
    _subscribe(settings, email="Erika@example.org", entry=parent.id)
    _subscribe(settings, email="max@example.org", scope="all")
    assert "unconfirmed" in _cli(conf, "subscriptions", "list").output
    assert _cli(conf, "mail", "send").output.startswith("2 sent")  # the two confirmations
    _confirm_all(settings)
    listed = json.loads(_cli(conf, "subscriptions", "list", "--json").output)
    assert [s["email"] for s in listed] == ["Erika@example.org", "max@example.org"]

    Moderation(settings).reply(parent.id, "Antwort der Redaktion.")
    assert "queued" in _cli(conf, "mail", "list").output
    assert _cli(conf, "mail", "send").output.startswith("2 sent")
    assert len(smtp.wait(4)) == 4

    person = json.loads(_cli(conf, "export-person", "erika@example.org").output)
    assert [s["article"] for s in person["subscriptions"]] == ["offene-debatte"]
    assert [(m["kind"], m["status"]) for m in person["mails"]] == [("notify", "sent")]
    forgotten = _cli(conf, "forget", "erika@example.org", "--yes").output
    assert "Removed 1 reply subscriptions." in forgotten
    state = open_state(settings)
    assert [s.email for s in state.subscriptions.listing()] == ["max@example.org"]
    assert state.outbox.of_address("erika@example.org") == []
    max_id = state.subscriptions.listing()[0].id
    assert "Removed 1" in _cli(conf, "subscriptions", "remove", str(max_id)).output
    assert _cli(conf, "subscriptions", "list").output.strip() == "No subscriptions."
    # A sent mail, or one that does not exist, is not queued again: the command says so.
    sent = state.outbox.listing("sent")[0].id
    refused = _cli(conf, "mail", "retry", str(sent), "999", ok=False).output
    assert "Queued 0 mails again." in refused and f"{sent}, 999" in refused
