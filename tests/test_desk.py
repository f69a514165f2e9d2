"""The moderation desk over real HTTP: access, CSRF, lockout, headers, decisions."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from liveserver import wait_for
from lxml import html as lxml_html
from test_desk_site import PASSWORD, Served, add_entry, hash_env

from replik.settings import Settings
from replik.store import Store


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hash_env(monkeypatch)
    served = Served(tmp_path / "site", REPLIK_LOGIN_MAX_FAILURES=3)
    served.wait_built()
    yield served
    served.close()


def csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def logged_in(desk: Served, name: str = "anna") -> httpx.Client:
    client = httpx.Client(base_url=desk.url, follow_redirects=True, timeout=20)
    page = client.get("/moderate/login")
    answer = client.post("/moderate/login", data={
        "csrf": csrf(page.text), "name": name, "password": PASSWORD, "next": "/moderate/"})
    # The link to log out, in either language (the desk speaks the site's).
    assert answer.status_code == 200 and "/moderate/logout" in answer.text
    return client


def when(minutes: int = 0) -> datetime:
    return datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes)


def test_no_session_means_login(desk: Served) -> None:
    with httpx.Client(base_url=desk.url, timeout=20) as client:
        for path in ("/moderate/", "/moderate/queue", "/moderate/report.json"):
            answer = client.get(path)
            assert answer.status_code == 302
            assert answer.headers["location"].startswith("/moderate/login?next=")
        entry = add_entry(desk.store, "post-1", when=when())
        page = client.get("/moderate/login").text
        answer = client.post(f"/moderate/entry/{entry.id}/act",
                             data={"csrf": csrf(page), "action": "approve"})
        assert answer.status_code == 403
        assert desk.store.get(entry.id).state == "pending"


@pytest.mark.parametrize(("setting", "path"), [("/redaktion/", "/redaktion"), ("", "/moderate")])
def test_the_desk_lives_where_its_setting_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               setting: str, path: str) -> None:
    hash_env(monkeypatch)
    served = Served(tmp_path / "site", REPLIK_MODERATE_URL=setting)
    try:
        served.wait_built()
        with httpx.Client(base_url=served.url, timeout=20) as client:
            answer = client.get(f"{path}/queue")
            assert answer.status_code == 302
            assert answer.headers["location"].startswith(f"{path}/login?next=")
            login = client.get(f"{path}/login")
            assert login.status_code == 200
            assert login.headers["x-frame-options"] == "DENY"  # the desk's own headers
            assert client.get("/index.html").status_code == 200  # the site is not shadowed
    finally:
        served.close()


def test_desk_pages_name_the_site_in_its_language(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """<html lang>, the site's name in the title and absolute links to the posts come
    from the settings (an English site's desk said lang="de", without name or address)."""
    hash_env(monkeypatch)
    served = Served(tmp_path / "site", DEFAULT_LANG="en")
    try:
        served.wait_built()
        add_entry(served.store, "post-1", when=when())
        client = logged_in(served)
        page = lxml_html.fromstring(client.get("/moderate/queue").text)
        assert page.get("lang") == "en"
        assert page.findtext(".//title").endswith("– Testblog")
        [link] = page.xpath('//span[@class="article"]/a/@href')
        assert link.startswith(f"{served.url}/") and client.get(link).status_code == 200
    finally:
        served.close()


def test_the_spam_verdict_is_shown_in_the_sites_language(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored verdict is a code word (ham, spam, discard, unchecked); the German
    desk said "Spamprüfung: ham"."""
    from test_desk_site import PROJECT_THEME

    hash_env(monkeypatch)
    served = Served(tmp_path / "site", posts=1, theme=PROJECT_THEME, REPLIK_REBUILD=False)
    try:
        for verdict in ("ham", "unchecked"):
            add_entry(served.store, "post-1", when=when(), spam_verdict=verdict)
        page = lxml_html.fromstring(logged_in(served).get("/moderate/queue").text)
        shown = {fact.strip() for fact in page.xpath('//ul[@class="facts"]/li[1]/text()')}
        assert {"Spamprüfung: kein Spam", "Spamprüfung: ungeprüft"} <= shown, shown
    finally:
        served.close()


def test_headers_on_every_desk_page(desk: Served) -> None:
    client = logged_in(desk)
    for path in ("/moderate/login", "/moderate/", "/moderate/queue", "/moderate/nowhere"):
        answer = client.get(path)
        assert answer.headers["x-frame-options"] == "DENY"
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert answer.headers["x-robots-tag"].startswith("noindex")
        assert answer.headers["referrer-policy"] == "same-origin"
        assert answer.headers["cache-control"] == "no-store"
    fresh = httpx.Client(base_url=desk.url, timeout=20)
    answer = fresh.post("/moderate/login", data={
        "csrf": csrf(fresh.get("/moderate/login").text), "name": "anna", "password": PASSWORD})
    assert answer.status_code == 302
    cookie = next(h for h in answer.headers.get_list("set-cookie")
                  if h.startswith("replik_desk="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_csrf_missing_or_wrong_is_403_and_changes_nothing(desk: Served) -> None:
    client = logged_in(desk)
    entry = add_entry(desk.store, "post-1", when=when())
    for data in ({"action": "approve"}, {"action": "approve", "csrf": "forged"}):
        answer = client.post(f"/moderate/entry/{entry.id}/act", data=data)
        assert answer.status_code == 403
    answer = client.post("/moderate/bulk", data={"action": "trash", "ids": [entry.id]})
    assert answer.status_code == 403
    answer = client.post(f"/moderate/entry/{entry.id}/reply", data={"body": "Hallo"})
    assert answer.status_code == 403
    assert desk.store.get(entry.id).state == "pending"
    assert list(desk.store.audit_trail()) == []


def test_lockout_after_failures_even_with_the_right_password(desk: Served) -> None:
    client = httpx.Client(base_url=desk.url, timeout=20)
    token = csrf(client.get("/moderate/login").text)
    for _attempt in range(3):
        answer = client.post("/moderate/login",
                             data={"csrf": token, "name": "anna", "password": "falsch"})
        assert answer.status_code == 401
    answer = client.post("/moderate/login",
                         data={"csrf": token, "name": "anna", "password": PASSWORD})
    assert answer.status_code == 429 and "Too many failed logins" in answer.text
    # Another account from the same address is locked as well.
    answer = client.post("/moderate/login",
                         data={"csrf": token, "name": "bert", "password": PASSWORD})
    assert answer.status_code == 429


def test_wrong_name_and_unknown_account(desk: Served) -> None:
    client = httpx.Client(base_url=desk.url, timeout=20)
    token = csrf(client.get("/moderate/login").text)
    answer = client.post("/moderate/login", data={"csrf": token, "name": "nobody",
                                                  "password": PASSWORD})
    assert answer.status_code == 401 and "Wrong name or password" in answer.text
    answer = client.post("/moderate/login", data={"name": "anna", "password": PASSWORD})
    assert answer.status_code == 403


def test_idle_session_ends(desk: Served) -> None:
    client = logged_in(desk)
    config = desk.app.config
    config["REPLIK"] = config["REPLIK"].replace(REPLIK_DESK_IDLE_MINUTES=0.0001)
    time.sleep(0.05)
    answer = client.get("/moderate/queue")
    assert "Log in to the moderation desk" in answer.text
    assert "without activity" in answer.text


def test_login_does_not_redirect_elsewhere(desk: Served) -> None:
    client = httpx.Client(base_url=desk.url, timeout=20)
    token = csrf(client.get("/moderate/login").text)
    answer = client.post("/moderate/login", data={
        "csrf": token, "name": "anna", "password": PASSWORD, "next": "//evil.example/x"})
    assert answer.status_code == 302 and answer.headers["location"] == "/moderate/"


def test_queue_filters_history_and_decisions(desk: Served) -> None:
    client = logged_in(desk)
    old = add_entry(desk.store, "post-2", "approved", when=when(-100), author="Carla",
                    email="carla@example.org")
    first = add_entry(desk.store, "post-2", when=when(1), author="Carla",
                      email="carla@example.org", body="Noch eine Frage")
    other = add_entry(desk.store, "post-3", when=when(2), author="Dieter", type="webmention",
                      source="https://blog.example/post", title="Ein Blog", body="Auszug")
    page = client.get("/moderate/queue").text
    assert first.id in page and other.id in page and old.id not in page
    assert "1 approved, 0 spam" in page.replace("\n", " ").replace("  ", " ") or \
        re.search(r"1\s+approved,\s+0\s+spam", page)
    assert other.id not in client.get("/moderate/queue", params={"type": "comment"}).text
    assert first.id not in client.get("/moderate/queue", params={"article": "post-3"}).text
    found = client.get("/moderate/queue", params={"q": "carla@example", "state": "all"}).text
    assert first.id in found and old.id in found and other.id not in found
    token = csrf(page)
    client.post(f"/moderate/entry/{first.id}/act", data={"csrf": token, "action": "approve"})
    assert desk.store.get(first.id).state == "approved"
    client.post("/moderate/bulk", data={"csrf": token, "action": "trash",
                                        "ids": [other.id, first.id]})
    assert desk.store.get(other.id).state == "trash"
    trail = client.get(f"/moderate/entry/{first.id}").text
    assert "anna" in trail and trail.count("<tr>") == 3  # header + approve + trash


def test_reply_edit_and_delete_with_confirmation(desk: Served) -> None:
    client = logged_in(desk)
    entry = add_entry(desk.store, "post-4", when=when(), author="Erika", body="Warum?")
    page = client.get(f"/moderate/entry/{entry.id}").text
    token = csrf(page)
    answer = client.post(f"/moderate/entry/{entry.id}/reply",
                         data={"csrf": token, "body": "Darum, liebe Erika."})
    assert answer.status_code == 200
    replies = [e for e in desk.store.entries("approved", "post-4") if e.staff]
    assert len(replies) == 1 and replies[0].reply_to == entry.id
    assert replies[0].author == "Redaktion"  # the site's AUTHOR: no login name in public
    assert desk.store.get(entry.id).state == "approved"
    client.post(f"/moderate/entry/{entry.id}/edit", data={"csrf": token, "body": "Wieso?"})
    assert desk.store.get(entry.id).body == "Wieso?"
    confirm = client.get(f"/moderate/entry/{entry.id}/delete")
    assert "Delete this entry forever?" in confirm.text
    assert desk.store.find(entry.id) is not None
    client.post(f"/moderate/entry/{entry.id}/delete", data={"csrf": token})
    assert desk.store.find(entry.id) is not None  # not without the confirming field
    client.post(f"/moderate/entry/{entry.id}/delete", data={"csrf": token, "confirm": "yes"})
    assert desk.store.find(entry.id) is None


def test_bad_input_gets_clear_errors(desk: Served) -> None:
    client = logged_in(desk)
    token = csrf(client.get("/moderate/queue").text)
    assert client.get("/moderate/entry/nonsense").status_code == 404
    assert client.get("/moderate/queue", params={"state": "x"}).status_code == 400
    assert client.get("/moderate/", params={"since": "gestern"}).status_code == 400
    answer = client.post("/moderate/entry/20260301T000000000000Z-00000000/act",
                         data={"csrf": token, "action": "approve"})
    assert answer.status_code == 200 and "no longer exists" in answer.text
    answer = client.post("/moderate/bulk", data={"csrf": token, "action": "format"})
    assert answer.status_code == 400


def test_approve_goes_live(desk: Served) -> None:
    client = logged_in(desk)
    entry = add_entry(desk.store, "post-5", when=when(), author="Fritz", body="Live!")
    token = csrf(client.get("/moderate/queue").text)
    client.post(f"/moderate/entry/{entry.id}/act", data={"csrf": token, "action": "approve"})
    wait_live(client)
    page = httpx.get(f"{desk.url}/2026/post-5/", timeout=10).text
    assert f'id="comment-{entry.id}"' in page and "Live!" in page
    view = client.get(f"/moderate/entry/{entry.id}").text
    assert f"/2026/post-5/#comment-{entry.id}" in view


def test_moderators_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from replik.server.auth import accounts, make_hash

    monkeypatch.setenv("REPLIK_MODERATORS", "bert:REPLIK_PW_BERT, carl:REPLIK_PW_CARL")
    monkeypatch.setenv("REPLIK_PW_BERT", make_hash("bert-passwort-1"))
    monkeypatch.delenv("REPLIK_PW_CARL", raising=False)
    monkeypatch.setenv("REPLIK_PW_ANNA", "scrypt:anna")
    found = accounts(Settings(moderators={"anna": "REPLIK_PW_ANNA"}))
    assert sorted(found) == ["anna", "bert"]  # carl's variable is not set


def test_desk_speaks_the_site_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_desk_site import PROJECT_THEME

    if not (PROJECT_THEME / "translations" / "de" / "LC_MESSAGES" / "desk.po").exists():
        pytest.skip("no German desk catalog")
    hash_env(monkeypatch)
    served = Served(tmp_path / "site", posts=1, theme=PROJECT_THEME, REPLIK_REBUILD=False)
    try:
        page = httpx.get(f"{served.url}/moderate/login", timeout=10).text
        assert "Bei der Moderation anmelden" in page and 'lang="de"' in page
    finally:
        served.close()


def test_damaged_file_is_named_not_a_crash(desk: Served) -> None:
    client = logged_in(desk)
    good = add_entry(desk.store, "post-1", when=when())
    bad_id = "20260301T120000000000Z-0badf11e"
    (desk.store.root / "pending" / f"{bad_id}.txt").write_bytes(b"no header here")
    queue = client.get("/moderate/queue")
    assert queue.status_code == 200 and good.id in queue.text
    answer = client.get(f"/moderate/entry/{bad_id}")
    assert answer.status_code == 409 and "no blank line" in answer.text


def test_sessions_without_a_cookie_are_empty_and_cost_nothing_to_save(tmp_path) -> None:
    """The session interface's short cuts give what Flask's own interface gives."""
    from flask import Flask, session
    from flask.sessions import SecureCookieSessionInterface

    from replik.server import auth

    app = Flask(__name__)
    app.secret_key = "k" * 32
    app.config.update(SESSION_COOKIE_NAME="replik_desk")
    ours = auth._SessionInterface()
    flasks = SecureCookieSessionInterface()
    with app.test_request_context("/"):
        from flask import request
        assert ours.open_session(app, request) == {} and not session.modified
        response = app.response_class("x")
        ours.save_session(app, ours.open_session(app, request), response)
        assert "Set-Cookie" not in response.headers and "Vary" not in response.headers
        signed = flasks.get_signing_serializer(app).dumps({"user": "anna"})
    with app.test_request_context("/", headers={"Cookie": f"replik_desk={signed}"}):
        from flask import request
        assert ours.open_session(app, request) == {"user": "anna"}
    with app.test_request_context("/", headers={"Cookie": "replik_desk=forged"}):
        from flask import request
        assert ours.open_session(app, request) == {}
    with app.test_request_context("/"):
        from flask import request
        emptied = ours.open_session(app, request)
        emptied["user"] = "anna"
        emptied.clear()  # modified, now empty: Flask deletes the cookie
        response = app.response_class("x")
        ours.save_session(app, emptied, response)
        assert "replik_desk=;" in response.headers["Set-Cookie"]


# -- decisions: who was first, full disks, replies that wait, display names ------------------


def form_of(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the page's first form posting to ``action``."""
    start = page.index(f'action="{action}"')
    form = page[start:page.index("</form>", start)]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def add_bert(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second moderator account, from the environment."""
    from replik.server.auth import make_hash

    monkeypatch.setenv("REPLIK_MODERATORS", "bert:REPLIK_TEST_HASH_BERT")
    monkeypatch.setenv("REPLIK_TEST_HASH_BERT", make_hash(PASSWORD))


def test_two_moderators_deciding_at_once_exactly_one_wins(desk: Served,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    add_bert(monkeypatch)
    sessions = {"anna": logged_in(desk), "bert": logged_in(desk, "bert")}
    wants = {"anna": "approve", "bert": "spam"}
    for _round in range(3):
        entry = add_entry(desk.store, "post-1", when=when(_round))
        path = f"/moderate/entry/{entry.id}/act"
        forms = {name: form_of(client.get(f"/moderate/entry/{entry.id}").text, path)
                 for name, client in sessions.items()}
        assert all(form["seen"] == "pending" for form in forms.values())
        start, answers = threading.Barrier(2), {}

        def decide(name: str, path: str, data: dict, start: threading.Barrier,
                   answers: dict) -> None:
            start.wait()  # both moderators press their button at the same moment
            answers[name] = sessions[name].post(path, data=data)

        threads = [threading.Thread(target=decide, args=(
            name, path, {**forms[name], "action": wants[name]}, start, answers))
            for name in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert all(answer.status_code == 200 for answer in answers.values())
        done = [name for name, answer in answers.items() if "Done:" in answer.text]
        assert len(done) == 1, {name: answer.text[-2000:] for name, answer in answers.items()}
        [winner], [loser] = done, [name for name in sessions if name not in done]
        assert f"Already decided by {winner}" in answers[loser].text
        assert "Nothing was changed" in answers[loser].text
        assert desk.store.get(entry.id).state == {"approve": "approved",
                                                   "spam": "spam"}[wants[winner]]
        records = [(a["actor"], a["from"]) for a in desk.store.audit_trail(entry.id)]
        assert records == [(winner, "pending")]


def test_a_decision_from_a_state_that_is_gone_changes_nothing(desk: Served) -> None:
    client = logged_in(desk)
    entry = add_entry(desk.store, "post-1", when=when())
    path = f"/moderate/entry/{entry.id}/act"
    seen = form_of(client.get(f"/moderate/entry/{entry.id}").text, path)
    from replik.moderation import Moderation

    Moderation(desk.settings, actor="carla").decide("spam", entry.id)  # e.g. on the CLI
    answer = client.post(path, data={**seen, "action": "approve"})
    assert "Already decided by carla: the entry is marked as spam now" in answer.text
    assert desk.store.get(entry.id).state == "spam"
    # The queue's bulk form says what each entry was when the page was made, too.
    queue = client.get("/moderate/queue", params={"state": "all"}).text
    assert f'name="seen-{entry.id}" value="spam"' in queue
    answer = client.post("/moderate/bulk", data={"csrf": csrf(queue), "action": "trash",
                                                 "ids": [entry.id], f"seen-{entry.id}":
                                                 "pending"})
    assert "Already decided by carla" in answer.text and "0 entries" in answer.text
    assert desk.store.get(entry.id).state == "spam"


def test_a_mailed_link_opened_in_the_desk_after_a_decision_is_spent(desk: Served) -> None:
    from replik import tokens
    from replik.moderation import Moderation

    client = logged_in(desk)
    entry = add_entry(desk.store, "post-1", when=when())
    token = tokens.make_action(desk.settings, "approve", entry.id)  # mailed while pending
    Moderation(desk.settings, actor="carla").decide("spam", entry.id)
    page = client.get(f"/moderate/link/{token}").text
    assert "Already decided by carla" in page and 'id="confirm"' not in page
    answer = client.post(f"/moderate/entry/{entry.id}/act",
                         data={"csrf": csrf(page), "action": "approve", "token": token})
    assert "Already decided by carla" in answer.text
    assert desk.store.get(entry.id).state == "spam"


def test_on_a_full_disk_decisions_and_replies_say_so_and_change_nothing(
        desk: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_store import audit_disk_full

    client = logged_in(desk)
    waiting = add_entry(desk.store, "post-1", when=when(1), body="Bitte freigeben")
    shown = add_entry(desk.store, "post-1", "approved", when=when(0), body="Schon da")
    before = sorted(p.relative_to(desk.store.root) for p in desk.store.root.rglob("*.txt"))
    audit_disk_full(monkeypatch)
    token = csrf(client.get("/moderate/queue").text)
    answers = [
        client.post(f"/moderate/entry/{waiting.id}/act",
                    data={"csrf": token, "action": "approve", "seen": "pending"}),
        client.post(f"/moderate/entry/{waiting.id}/reply",
                    data={"csrf": token, "body": "Danke!", "seen": "pending"}),
        client.post(f"/moderate/entry/{shown.id}/reply",
                    data={"csrf": token, "body": "Danke!", "seen": "approved"}),
        client.post(f"/moderate/entry/{shown.id}/edit", data={"csrf": token, "body": "Neu"}),
        client.post("/moderate/bulk", data={"csrf": token, "action": "trash",
                                            "ids": [waiting.id, shown.id]}),
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert "Nothing was changed: the comment store cannot be written" in answer.text
        assert "No space left on device" in answer.text
    assert sorted(p.relative_to(desk.store.root)
                  for p in desk.store.root.rglob("*.txt")) == before
    assert desk.store.get(waiting.id).state == "pending"
    assert desk.store.get(shown.id).body == "Schon da"
    assert list(desk.store.audit_trail()) == []
    assert list((desk.store.root / "tmp").iterdir()) == []


def test_replies_wait_with_their_parent(desk: Served) -> None:
    client = logged_in(desk)
    parent = add_entry(desk.store, "post-6", when=when(0), author="Gerd", body="Frage")
    reply = add_entry(desk.store, "post-6", when=when(1), author="Hanna", body="Antwort",
                      reply_to=parent.id)
    page = client.get(f"/moderate/entry/{reply.id}").text
    answer = client.post(f"/moderate/entry/{reply.id}/act",
                         data={**form_of(page, f"/moderate/entry/{reply.id}/act"),
                               "action": "approve"})
    assert "answers an entry that is awaiting moderation. Approve that one first" in answer.text
    assert desk.store.get(reply.id).state == "pending"
    queue = client.get("/moderate/queue").text
    answer = client.post("/moderate/bulk", data={  # newest first on the page: reply first
        "csrf": csrf(queue), "action": "approve", "ids": [reply.id, parent.id],
        f"seen-{reply.id}": "pending", f"seen-{parent.id}": "pending"})
    assert "2 entries: approve." in answer.text
    page = client.get(f"/moderate/entry/{parent.id}").text
    staff = client.post(f"/moderate/entry/{reply.id}/reply", data={
        **form_of(client.get(f"/moderate/entry/{reply.id}").text,
                  f"/moderate/entry/{reply.id}/reply"), "body": "Stimmt."})
    assert "Your reply is published." in staff.text
    # The parent turns out to be spam: its thread waits with it, off the page.
    client.post(f"/moderate/entry/{parent.id}/act",
                data={**form_of(page, f"/moderate/entry/{parent.id}/act"), "action": "spam"})
    wait_live(client)
    article = httpx.get(f"{desk.url}/2026/post-6/", timeout=10).text
    for entry in desk.store.entries("approved", "post-6"):
        assert f'id="comment-{entry.id}"' not in article
    assert "Antwort" not in article and "Stimmt." not in article
    assert "Not shown on the site while the entry it answers is not approved." in client.get(
        f"/moderate/entry/{reply.id}").text


def wait_live(client: httpx.Client) -> None:
    wait_for(lambda: client.get("/moderate/live").json()["live"], "the rebuild", timeout=20)


def test_staff_replies_show_the_moderators_display_name(desk: Served) -> None:
    config = desk.app.config
    config["REPLIK"] = config["REPLIK"].replace(
        REPLIK_MODERATOR_NAMES={"anna": "Anna Wolf (Redaktion)"})
    client = logged_in(desk)
    entry = add_entry(desk.store, "post-7", "approved", when=when(), body="Wer antwortet?")
    page = client.get(f"/moderate/entry/{entry.id}").text
    assert "Signed on the site as “Anna Wolf (Redaktion)”." in page
    client.post(f"/moderate/entry/{entry.id}/reply",
                data={**form_of(page, f"/moderate/entry/{entry.id}/reply"), "body": "Ich!"})
    [reply] = [e for e in desk.store.entries("approved", "post-7") if e.staff]
    assert reply.author == "Anna Wolf (Redaktion)"
    wait_live(client)
    article = lxml_html.fromstring(httpx.get(f"{desk.url}/2026/post-7/", timeout=10).text)
    node = article.get_element_by_id(f"comment-{reply.id}")
    assert node.xpath("string(.//p[@class='author'])").split() == ["Anna", "Wolf",
                                                                  "(Redaktion)", "(Team)"]
    assert "anna" not in node.text_content()


def test_an_edit_killed_midway_is_back_when_the_server_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_desk_site import make_site
    from test_store import interrupted_edit

    hash_env(monkeypatch)
    make_site(tmp_path / "site", posts=2)
    entry = add_entry(Store(tmp_path / "site" / "comments"), "post-1", when=when(),
                      body="Bleibt erhalten")
    proc = interrupted_edit(tmp_path / "site" / "comments", entry.id)
    proc.kill()  # kill -9 while the desk edits it
    proc.wait()
    assert Store(tmp_path / "site" / "comments").find(entry.id) is None
    served = Served(tmp_path / "site", posts=2, REPLIK_REBUILD=False)
    try:
        queue = logged_in(served).get("/moderate/queue").text
        assert entry.id in queue and "Bleibt erhalten" in queue
        assert served.store.get(entry.id).state == "pending"
    finally:
        served.close()


def test_history_counts_other_entries_only_and_never_below_zero(desk: Served) -> None:
    client = logged_in(desk)
    parent = add_entry(desk.store, "post-2", "approved", when=when(1), author="Gerda",
                       email="gerda@example.org")
    child = add_entry(desk.store, "post-2", when=when(2), author="Hugo",
                      email="hugo@example.org", reply_to=parent.id)
    pages = {
        "child": client.get(f"/moderate/entry/{child.id}").text,  # shows the parent
        "parent": client.get(f"/moderate/entry/{parent.id}").text,  # shows the reply
        "delete": client.get(f"/moderate/entry/{parent.id}/delete").text,
    }
    for name, page in pages.items():
        text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
        # Entry ids hold "-1…" by chance; a negative count stands before its word.
        assert not re.search(r"(?<![\w-])-\d+ (approved|spam)", text), name
        assert "Earlier by this address: 0 approved, 0 spam" in text, name


def test_report_names_articles_by_title_with_links(desk: Served) -> None:
    client = logged_in(desk)
    answered = add_entry(desk.store, "post-1", "approved", when=when(1), author="Ines")
    add_entry(desk.store, "post-1", "approved", when=when(1 + 6 * 60), author="Redaktion",
              staff=True, reply_to=answered.id, body="Danke!")
    waiting = add_entry(desk.store, "post-2", "approved", when=when(2), author="Jörg")
    page = client.get("/moderate/", params={"since": "2026-03-01", "until": "2026-03-07"}).text
    titles = dict(re.findall(r'<a href="([^"]+)">(Beitrag \d)</a>', page))
    assert titles == {f"{desk.url}/2026/post-1/": "Beitrag 1",
                      f"{desk.url}/2026/post-2/": "Beitrag 2"}
    row = re.search(r'<tr data-article="post-2">.*?</tr>', page, re.S).group(0)
    assert f'<a href="{desk.url}/2026/post-2/">Beitrag 2</a>' in row
    waiting_item = re.search(r'<ol class="unanswered".*?</ol>', page, re.S).group(0)
    assert waiting.id in waiting_item and "Beitrag 2</a>" in waiting_item
    assert ">post-2<" not in page and " post-2," not in page
    # Numbers in the desk's language (the test site is German): 6 hours to the answer.
    assert re.search(r'id="fig-median">6,0 h<', page)


def test_default_report_moves_to_the_newest_entry_when_the_last_weeks_are_empty(
        desk: Served) -> None:
    client = logged_in(desk)
    for minute in (0, 60, 24 * 60):  # in March 2026: long before "now"
        add_entry(desk.store, "post-3", "approved", when=when(minute), author="Karl")
    page = client.get("/moderate/").text
    assert re.search(r'id="fig-received">3<', page)
    note = re.search(r'<p class="note" id="period-note">(.*?)</p>', page, re.S)
    assert note and "Nothing arrived in the last 28 days" in note.group(1)
    assert 'name="until" value="2026-03-02"' in page
    assert 'name="since" value="2026-02-03"' in page
    # As soon as something arrives in the last 28 days, the default is those days.
    add_entry(desk.store, "post-3", when=datetime.now(UTC) - timedelta(days=1), author="Lou")
    page = client.get("/moderate/").text
    assert re.search(r'id="fig-received">1<', page) and 'id="period-note"' not in page
    # A period asked for is shown as asked, even if it holds nothing.
    page = client.get("/moderate/", params={"since": "2025-01-01", "until": "2025-01-31"}).text
    assert re.search(r'id="fig-received">0<', page) and 'id="period-note"' not in page


def test_every_desk_string_has_a_german_translation() -> None:
    """The desk's templates, its pages' code and the chart: each string in a catalog."""
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po
    from test_desk_site import PROJECT_THEME

    package = Path(__file__).resolve().parents[1] / "plugins" / "replik"
    sources = [("jinja2", f) for f in sorted((package / "templates" / "desk").glob("*.html"))]
    sources += [("python", package / name) for name in ("chart.py", "server/moderate.py")]
    wanted = set()
    for method, path in sources:
        for _line, message, _comments, _context in extract_from_file(method, str(path)):
            wanted.add(message if isinstance(message, str) else message[0])
    known = set()
    for folder in (package / "translations", PROJECT_THEME / "translations"):
        for po in (folder / "de" / "LC_MESSAGES").glob("*.po"):
            with po.open("rb") as handle:
                known |= {m.id for m in read_po(handle) if m.id and m.string}
    assert len(wanted) > 80
    assert sorted(wanted - known) == []
