"""PostgreSQL down or restarting under a live app: 503 with Retry-After (JSON for scripts,
a page for browsers), nothing acknowledged lost, the pool recovering by itself."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from liveserver import live_server
from test_desk_auth import ACCOUNT, HASH_VARIABLE, Visitor, env  # noqa: F401 - a fixture
from test_intake_support import form, make_settings

from replik import pg
from replik import state as state_module
from replik.pgstore import PgStore
from replik.server.app import create_app
from replik.storespec import Entry, StoreError, new_id
from replik.worker import Worker

JSON = {"Accept": "application/json"}


@pytest.fixture
def served(tmp_path: Path, pg_cluster, pg_url, request, monkeypatch) -> Iterator[str]:
    """The app on loopback with its store and state in the test's database."""
    request.getfixturevalue("env")  # the desk's password and secret
    pg.upgrade(pg_url)
    monkeypatch.setenv("REPLIK_DATABASE_URL", pg_url)
    settings = make_settings(tmp_path / "site", REPLIK_MODERATORS={ACCOUNT: HASH_VARIABLE},
                             REPLIK_REBUILD=False, REPLIK_FLOOD_PER_MINUTE=0)
    try:
        with live_server(create_app(settings=settings)) as (base, _holder):
            yield base
    finally:
        state_module._open.pop(pg_url, None)
        pg._databases.pop(pg_url).close()


def _unavailable(answer: httpx.Response, kind: str) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text[:300])
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.headers["Content-Type"].startswith(kind)


def test_a_database_outage_answers_503_and_loses_nothing(served: str, pg_cluster, pg_url):
    acknowledged: list[str] = []
    refused: list[str] = []
    desk = Visitor(served)

    def post(http: httpx.Client, body: str) -> httpx.Response:
        answer = http.post("/replik/comment", json=form(body=body), headers=JSON)
        if answer.status_code == 201:
            acknowledged.append(body)
        else:
            refused.append(body)
        return answer

    with httpx.Client(base_url=served, timeout=60) as http:
        for number in range(5):
            assert post(http, f"Vorher {number}").status_code == 201
        pg_cluster.stop()
        try:
            _unavailable(post(http, "Während JSON"), "application/json")
            assert http.post("/replik/comment", json=form(body="x"), headers=JSON).json()[
                "ok"] is False
            page = http.post("/replik/comment", data=form(body="Während Formular"))
            _unavailable(page, "text/html")
            assert "<form" in page.text  # the reader's form, with what they typed
            assert "Während Formular" in page.text
            _unavailable(desk.login("falsch"), "text/html")  # the desk's login throttle
        finally:
            pg_cluster.start_again()
        assert post(http, "Danach 0").status_code == 201  # the same process, no restart
        assert desk.login("falsch").status_code == 401
        # A restart between two requests: the pooled connections it ended are noticed.
        pg_cluster.restart()
        assert post(http, "Danach 1").status_code == 201

    store = PgStore(pg.database(pg_url))
    bodies = Counter(entry.body for entry in store.all_entries(on_error="raise"))
    assert all(bodies[body] == 1 for body in acknowledged) and len(acknowledged) == 7
    assert not any(bodies[body] for body in ("Während JSON", "Während Formular"))


def test_a_node_started_while_the_database_is_down_serves_once_it_is_back(
        tmp_path: Path, pg_cluster, pg_url, monkeypatch, caplog):
    """A machine booting before its database (a power cut, a failover): the app starts,
    answers 503 meanwhile, and takes comments once the database is back, without a
    restart (systemd would give up a unit whose start failed five times in 10 s)."""
    pg.upgrade(pg_url)
    monkeypatch.setenv("REPLIK_DATABASE_URL", pg_url)
    settings = make_settings(tmp_path / "site", REPLIK_REBUILD=False, REPLIK_FLOOD_PER_MINUTE=0)
    pg_cluster.stop()
    down = True
    try:
        app = create_app(settings=settings)
        assert any("cannot be used now" in r.getMessage() for r in caplog.records)
        with live_server(app) as (base, _holder), httpx.Client(base_url=base, timeout=60) as http:
            _unavailable(http.post("/replik/comment", json=form(body="Zu früh"), headers=JSON),
                         "application/json")
            pg_cluster.start_again()
            down = False
            answer = http.post("/replik/comment", json=form(body="Danach"), headers=JSON)
            assert answer.status_code == 201, answer.text[:300]
        bodies = [e.body for e in PgStore(pg.database(pg_url)).all_entries(on_error="raise")]
        assert bodies == ["Danach"]
    finally:
        if down:
            pg_cluster.start_again()
        state_module._open.pop(pg_url, None)
        pg._databases.pop(pg_url).close()


def test_the_worker_waits_out_a_database_outage(tmp_path: Path, pg_cluster, pg_url,
                                                monkeypatch, caplog):
    pg.upgrade(pg_url)
    monkeypatch.setenv("REPLIK_DATABASE_URL", pg_url)
    worker = Worker(make_settings(tmp_path / "site", REPLIK_REBUILD=False), poll=0.05)
    crashed: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:  # noqa: BLE001 - the test's finding
            crashed.append(exc)

    thread = threading.Thread(target=run)
    pg_cluster.stop()
    try:
        thread.start()
        deadline = time.monotonic() + 60  # the pool gives up on a connection after 5 s
        while not any("cannot be used now" in r.getMessage() for r in caplog.records):
            assert thread.is_alive() and time.monotonic() < deadline, crashed
            time.sleep(0.05)
    finally:
        pg_cluster.start_again()
    try:
        assert thread.is_alive(), crashed  # it met the outage and goes on
        assert worker.drain() == 0  # and uses the database again (an empty queue)
    finally:
        worker.stop()
        thread.join(60)
        state_module._open.pop(pg_url, None)
        pg._databases.pop(pg_url).close()
    assert crashed == []


def test_a_claim_goes_with_its_comment_when_the_database_goes(pg_cluster, pg_url):
    """The duplicate index's claim and the entry are one statement: a comment not
    stored (the database gone, or its write refused) leaves no claim to refuse the
    resend."""
    pg.upgrade(pg_url)
    db = pg.database(pg_url)
    guard, store = pg.Guard(db), PgStore(db)

    def entry(entry_id: str) -> Entry:
        return Entry(id=entry_id, article="a", body="Text", date=datetime.now(UTC))

    taken, first, second = new_id(), new_id(), new_id()
    try:
        store.add(Entry(id=taken, article="b", body="Alt", date=datetime.now(UTC)))
        with pytest.raises(StoreError):  # the entry's write fails after the claim's
            guard.add(store, entry(taken), "pending")
        pg_cluster.stop()
        try:
            with pytest.raises(ConnectionError):
                guard.add(store, entry(new_id()), "pending")
        finally:
            pg_cluster.start_again()
        assert guard.add(store, entry(first), "pending") == ""
        assert guard.add(store, entry(second), "pending") == first
        assert [e.id for e in store.entries("pending", "a")] == [first]
        assert store.get(taken).body == "Alt"
    finally:
        pg._databases.pop(pg_url).close()
