"""The desk's login throttle and server-side sessions, over real HTTP.

Concurrent logins (threads against a live server, and two gunicorn workers
sharing one store), strangers guessing at an account from other addresses
(simulated with X-Forwarded-For behind one trusted proxy), a cookie replayed
after logout, session expiry, throttling that answers at once, and HSTS.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from liveserver import free_port, live_server
from test_desk_site import add_entry
from test_gunicorn_concurrency import start_gunicorn
from test_intake_support import form, make_settings, write_conf

from replik.server import auth
from replik.server.app import create_app
from replik.state import address_key, state_path
from replik.store import Store

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "richtig-Pferd-Batterie-Heftklammer"
ACCOUNT = "redaktion"
HASH_VARIABLE = "REPLIK_TEST_HASH_REDAKTION"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HASH_VARIABLE, auth.make_hash(PASSWORD))
    monkeypatch.setenv("REPLIK_SECRET_KEY", "test-secret-" + "y" * 40)
    for name in ("PYTHON_AKISMET_API_KEY", "PYTHON_AKISMET_BLOG_URL", "REPLIK_SMTP_HOST",
                 "REPLIK_MODERATORS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def served(tmp_path: Path, env: None) -> Iterator[tuple[str, dict]]:
    """The app (desk and intake, no rebuilds) on loopback, behind one trusted proxy."""
    settings = make_settings(tmp_path / "site", REPLIK_MODERATORS={ACCOUNT: HASH_VARIABLE},
                             REPLIK_REBUILD=False, REPLIK_TRUSTED_PROXIES=1)
    with live_server(create_app(settings=settings)) as (base, _holder):
        yield base, settings


def csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


class Visitor:
    """A browser at one address: its own cookie, its CSRF token, X-Forwarded-For."""

    def __init__(self, base: str, address: str = "") -> None:
        headers = {"X-Forwarded-For": address} if address else {}
        self.http = httpx.Client(base_url=base, headers=headers, timeout=60)
        self.token = csrf(self.http.get("/moderate/login").text)

    def login(self, password: str, name: str = ACCOUNT) -> httpx.Response:
        return self.http.post("/moderate/login", data={
            "csrf": self.token, "name": name, "password": password})


def assert_refused(answer: httpx.Response) -> None:
    """429 at once, with Retry-After in seconds and the reason on the page."""
    assert answer.status_code == 429, answer.status_code
    assert int(answer.headers["Retry-After"]) > 0
    assert "Zu viele fehlgeschlagene Anmeldungen" in answer.text


# -- item 2: concurrent logins ------------------------------------------------------
def test_concurrent_logins_check_no_more_than_the_limit(served, monkeypatch) -> None:
    """Five wrong passwords are being checked; 35 more arrive meanwhile, the right
    one among them: none of them is checked, so the right one does not log in."""
    base, _settings = served
    original = auth.check_password
    arrived = threading.Condition()
    checking: list[str] = []
    release = threading.Event()

    def held_check(settings, name, password):
        with arrived:
            checking.append(password)
            arrived.notify_all()
            if len(checking) > 5:
                release.set()  # more than allowed are checked already: no point holding
        release.wait(60)
        return original(settings, name, password)

    monkeypatch.setattr(auth, "check_password", held_check)
    visitor = Visitor(base)
    answers: dict[int, httpx.Response] = {}

    def attempt(number: int, password: str) -> None:
        answers[number] = visitor.login(password)

    first = [threading.Thread(target=attempt, args=(n, f"falsch-{n}")) for n in range(5)]
    later = [threading.Thread(target=attempt, args=(n, PASSWORD if n == 20 else f"falsch-{n}"))
             for n in range(5, 40)]
    try:
        for thread in first:
            thread.start()
        with arrived:
            assert arrived.wait_for(lambda: len(checking) >= 5, timeout=60)
        for thread in later:
            thread.start()
        for thread in later:
            thread.join(60)
    finally:
        release.set()
        for thread in first + later:
            thread.join(60)
    assert len(checking) == 5 and PASSWORD not in checking
    for number in range(5):
        assert answers[number].status_code == 401
    for number in range(5, 40):
        assert_refused(answers[number])
    assert "/moderate/logout" not in visitor.http.get("/moderate/queue",
                                                       follow_redirects=True).text


@pytest.mark.slow
def test_concurrent_logins_across_two_server_processes(tmp_path: Path, env: None) -> None:
    """40 logins at once from one address to two gunicorn workers sharing the store:
    at most 5 passwords are checked, and then the right one is refused too."""
    conf = write_conf(tmp_path, REPLIK_MODERATORS={ACCOUNT: HASH_VARIABLE},
                      REPLIK_REBUILD=False)
    port = free_port()
    process = start_gunicorn(conf, port, workers=2, threads=8)
    try:
        base = f"http://127.0.0.1:{port}"
        visitor = Visitor(base)
        answers: list[httpx.Response] = []
        lock = threading.Lock()
        start = threading.Barrier(40)

        def attempt(number: int) -> None:
            with httpx.Client(base_url=base, cookies=visitor.http.cookies, timeout=60) as http:
                start.wait(60)
                answer = http.post("/moderate/login", data={
                    "csrf": visitor.token, "name": ACCOUNT, "password": f"falsch-{number}"})
            with lock:
                answers.append(answer)

        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        statuses = Counter(answer.status_code for answer in answers)
        assert sum(statuses.values()) == 40, statuses
        assert set(statuses) <= {401, 429} and statuses[401] <= 5, statuses
        for answer in answers:
            if answer.status_code == 429:
                assert_refused(answer)
        assert_refused(visitor.login(PASSWORD))
    finally:
        process.terminate()
        _out, errors = process.communicate(timeout=30)
    assert b"Traceback" not in errors, errors.decode(errors="replace")[-2000:]


# -- item 3: strangers cannot lock the moderator out ------------------------------------
def test_strangers_cannot_lock_out_the_moderator(served) -> None:
    base, _settings = served
    attacker = Visitor(base, "203.0.113.9")
    for _attempt in range(5):
        assert attacker.login("geraten").status_code == 401
    for _attempt in range(5):
        assert_refused(attacker.login("geraten"))
    assert_refused(attacker.login(PASSWORD))  # the address is throttled, whatever it sends
    assert_refused(attacker.login("geraten", name="anna"))  # for every account

    # The real moderator, from an address without failures, gets in.
    moderator = Visitor(base, "198.51.100.20")
    answer = moderator.login(PASSWORD)
    assert answer.status_code == 302
    assert "/moderate/logout" in moderator.http.get("/moderate/queue").text

    # Another stranger may try once, but no more while the account is under attack.
    stranger = Visitor(base, "192.0.2.33")
    assert stranger.login("geraten").status_code == 401
    assert_refused(stranger.login(PASSWORD))


def test_a_success_forgives_the_address_its_typos(served) -> None:
    base, _settings = served
    moderator = Visitor(base, "198.51.100.21")
    for _attempt in range(4):
        assert moderator.login("vertippt").status_code == 401
    assert moderator.login(PASSWORD).status_code == 302
    later = Visitor(base, "198.51.100.21")
    for _attempt in range(4):
        assert later.login("vertippt").status_code == 401


def test_ipv6_addresses_count_per_64(served) -> None:
    base, _settings = served
    for host in range(1, 6):
        assert Visitor(base, f"2001:db8:1:2::{host}").login("geraten").status_code == 401
    assert_refused(Visitor(base, "2001:db8:1:2::ffff").login("geraten", name="anna"))
    assert Visitor(base, "2001:db8:1:3::1").login("geraten", name="anna").status_code == 401


def test_address_keys() -> None:
    assert address_key("192.0.2.1") == "192.0.2.1"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") \
        == "2001:db8::/64"
    assert address_key("unknown") == "unknown"


# -- item 4: logout ends the session on the server -------------------------------------
def test_a_cookie_copied_before_logout_is_worthless_after(served, tmp_path: Path) -> None:
    base, _settings = served
    store = Store(tmp_path / "site" / "comments")
    entry = add_entry(store, "offene-debatte", when=datetime(2026, 3, 6, 9, 0, tzinfo=UTC))
    moderator = Visitor(base)
    assert moderator.login(PASSWORD).status_code == 302
    page = moderator.http.get("/moderate/queue")
    token = csrf(page.text)
    cookie = moderator.http.cookies["replik_desk"]

    def replay() -> httpx.Client:
        return httpx.Client(base_url=base, cookies={"replik_desk": cookie}, timeout=20)

    with replay() as copy:  # the copy works while the session lasts
        assert "/moderate/logout" in copy.get("/moderate/queue").text
    answer = moderator.http.post("/moderate/logout", data={"csrf": token})
    assert answer.status_code == 302
    with replay() as copy:
        answer = copy.get("/moderate/queue")
        assert answer.status_code == 302
        assert answer.headers["location"].startswith("/moderate/login")
        answer = copy.post(f"/moderate/entry/{entry.id}/act",
                           data={"csrf": token, "action": "approve"})
        assert answer.status_code == 403
        assert "Ihre Sitzung ist abgelaufen" in answer.text  # the site's language
    assert store.get(entry.id).state == "pending"


def test_a_form_without_its_token_is_refused_in_the_sites_language(served, tmp_path) -> None:
    base, _settings = served
    store = Store(tmp_path / "site" / "comments")
    entry = add_entry(store, "offene-debatte", when=datetime(2026, 3, 6, 9, 0, tzinfo=UTC))
    moderator = Visitor(base)
    assert moderator.login(PASSWORD).status_code == 302
    answer = moderator.http.post(f"/moderate/entry/{entry.id}/act", data={"action": "approve"})
    assert answer.status_code == 403
    assert "Das Formular war veraltet" in answer.text
    assert store.get(entry.id).state == "pending"


def _age_sessions(settings: dict, column: str, seconds: float) -> None:
    with sqlite3.connect(state_path(settings)) as db:
        db.execute(f"UPDATE sessions SET {column} = {column} - ?", (seconds,))


@pytest.mark.parametrize(("column", "seconds", "message"), [
    ("seen", 31 * 60, "nach längerer Inaktivität beendet"),
    ("started", 13 * 3600, "Ihre Sitzung ist abgelaufen"),
])
def test_sessions_end_when_idle_or_too_old(served, column, seconds, message) -> None:
    base, settings = served
    moderator = Visitor(base)
    assert moderator.login(PASSWORD).status_code == 302
    assert "/moderate/logout" in moderator.http.get("/moderate/queue").text
    _age_sessions(settings, column, seconds)
    page = moderator.http.get("/moderate/queue", follow_redirects=True)
    assert 'name="password"' in page.text and message in page.text
    with sqlite3.connect(state_path(settings)) as db:
        assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


def test_the_state_file_is_private_and_beside_the_store(served, tmp_path: Path) -> None:
    base, settings = served
    assert Visitor(base).login(PASSWORD).status_code == 302
    path = state_path(settings)
    assert path == tmp_path / "site" / "comments" / "state.sqlite3"
    assert path.stat().st_mode & 0o077 == 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        [stored] = [row[0] for row in db.execute("SELECT key FROM sessions")]
    # Only a hash of the session id: the file alone lets nobody in.
    assert len(stored) == 64


# -- item 5: throttled logins are answered at once, no worker sleeps --------------------
def test_failed_logins_never_sleep_and_readers_go_on(served, monkeypatch) -> None:
    base, _settings = served
    real_sleep = time.sleep
    slept: list[str] = []

    def watched_sleep(seconds: float) -> None:
        stack = traceback.extract_stack()[:-1]
        if any("/replik/" in frame.filename for frame in stack):
            slept.append("".join(traceback.format_list(stack[-3:])))
            return
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", watched_sleep)
    visitor = Visitor(base, "203.0.113.50")
    answers: list[httpx.Response] = []
    comments: list[httpx.Response] = []
    lock = threading.Lock()

    def fail() -> None:
        answer = visitor.login("geraten")
        with lock:
            answers.append(answer)

    def comment() -> None:
        with httpx.Client(base_url=base, headers={"Origin": base}, timeout=60) as http:
            comments.append(http.post("/replik/comment", json=form(),
                                      headers={"Accept": "application/json"}))

    threads = [threading.Thread(target=fail) for _ in range(12)]
    threads.append(threading.Thread(target=comment))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert slept == [], slept
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == Counter({401: 5, 429: 7}), statuses
    for answer in answers:
        if answer.status_code == 429:
            assert_refused(answer)
    assert [c.status_code for c in comments] == [201]


# -- item 8: HSTS ----------------------------------------------------------------------
def test_hsts_over_https_only(served) -> None:
    base, _settings = served
    with httpx.Client(base_url=base, timeout=20) as http:
        for path in ("/moderate/login", "/replik/thanks", "/replik/nowhere"):
            secure = http.get(path, headers={"X-Forwarded-Proto": "https"})
            assert secure.headers["strict-transport-security"] == "max-age=31536000", path
            plain = http.get(path)
            assert "strict-transport-security" not in plain.headers, path


def test_hsts_needs_a_trusted_proxy(tmp_path: Path, env: None) -> None:
    settings = make_settings(tmp_path / "site", REPLIK_REBUILD=False)
    with live_server(create_app(settings=settings)) as (base, _holder):
        answer = httpx.get(f"{base}/replik/thanks", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in answer.headers


def test_readme_nginx_sends_hsts() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", readme, flags=re.S)
    assert blocks and any(
        re.search(r"add_header Strict-Transport-Security \"max-age=\d+[^\"]*\" always;", b)
        for b in blocks)
