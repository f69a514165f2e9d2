"""``replik worker``: approve-to-live, webmention checks and mail in a process of their
own, on PostgreSQL (and on files with REPLIK_WORKER). Real workers (subprocesses of
the ``replik`` command), a real desk on loopback, real SMTP, a throwaway PostgreSQL."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from liveserver import wait_for
from test_desk import logged_in
from test_desk_site import BASE, Served, add_entry, hash_env, make_site, settings_for
from test_notify import Inbox, smtp  # noqa: F401 - the fixture

from replik import pg, reader_mail
from replik import state as state_module
from replik.state import Job, open_state
from replik.storespec import open_store

REPLIK = [str(Path(sys.executable).with_name("replik"))]


@pytest.fixture
def database(pg_url, monkeypatch):
    """REPLIK_DATABASE_URL set to a fresh database with its schema."""
    pg.upgrade(pg_url)
    monkeypatch.setenv("REPLIK_DATABASE_URL", pg_url)
    yield pg_url
    state_module._open.pop(pg_url, None)
    db = pg._databases.pop(pg_url, None)
    if db is not None:
        db.close()


@pytest.fixture(params=["postgres", "files"])
def backend(request, monkeypatch):
    """PostgreSQL (the worker by default), or files with REPLIK_WORKER = True."""
    if request.param == "postgres":
        request.getfixturevalue("database")
    else:
        monkeypatch.delenv("REPLIK_DATABASE_URL", raising=False)
    return request.param


def worker_once(conf: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([*REPLIK, "worker", "--once", "--settings", str(conf)],
                            cwd=conf.parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_desk_and_cli_approvals_go_live_in_one_rebuild_by_the_worker(
        backend, tmp_path, monkeypatch):
    hash_env(monkeypatch)
    marker = tmp_path / "hook-runs"
    served = Served(tmp_path / "site", posts=4, REPLIK_WORKER=backend == "files" or None)
    log = tmp_path / "worker.log"
    worker = None
    try:
        with served.conf.open("a") as conf:
            conf.write(f"\nREPLIK_PUBLISH_HOOK = {f'echo run >> {marker}'!r}\n")
            if backend == "files":
                conf.write("REPLIK_WORKER = True\n")
        # The server builds nothing itself: the desk only asks.
        assert served.app.extensions["replik_rebuilder"].builder is None
        state = open_state(served.settings)
        worker = _start_worker(served.conf, log)
        wait_for(lambda: state.rebuild.read().get("ok_finished"), "the worker's first build", 90)
        assert marker.read_text() == "run\n"
        store = open_store(served.settings)
        entries = [add_entry(store, "post-1", when=BASE, author=f"Leserin {n}",
                             body=f"Kommentar {n} für den Worker") for n in range(4)]
        http = logged_in(served)
        page = http.get("/moderate/queue").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        # The worker is held while the decisions arrive: they wait in the queue together.
        worker.send_signal(signal.SIGSTOP)
        since = time.time()
        for entry in entries[:3]:
            answer = http.post(f"/moderate/entry/{entry.id}/act",
                               data={"csrf": token, "action": "approve"})
            assert answer.status_code == 200
        cli = subprocess.run([*REPLIK, "--settings", str(served.conf), "approve", entries[3].id],
                             cwd=served.root, capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0 and "queued" in cli.stderr, cli.stderr
        assert state.rebuilds.ready() == 4
        assert http.get("/moderate/live", params={"since": since}).json()["live"] is False
        worker.send_signal(signal.SIGCONT)
        wait_for(lambda: http.get("/moderate/live", params={"since": since}).json()["live"],
                 "the decisions live", 60)
        assert marker.read_text() == "run\n" * 2  # one rebuild, one publish hook
        assert state.rebuilds.ready() == 0
        article = httpx.get(f"{served.url}/2026/post-1/", timeout=10).text
        for n in range(4):
            assert f"Kommentar {n} für den Worker" in article
        assert "4 comments" in article
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        text = log.read_text()
        assert re.findall(r"rebuild of (\d+) requests", text) == ["0", "4"], text
        # Nothing queued: `--once` does nothing, the hook does not run again.
        assert "0 jobs done" in worker_once(served.conf).stderr
        assert marker.read_text() == "run\n" * 2
        # Queued: `--once` (cron) takes the requests into one rebuild and exits.
        state.rebuilds.put()
        state.rebuilds.put()
        result = worker_once(served.conf)
        assert re.findall(r"rebuild of (\d+) requests", result.stderr) == ["2"], result.stderr
        assert marker.read_text() == "run\n" * 3 and state.rebuilds.ready() == 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGCONT)
            worker.kill()
        served.close()


def _requests(state) -> int:
    return state.execute("SELECT count(*) FROM rebuild_requests").fetchone()[0]


def _start_worker(conf: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([*REPLIK, "worker", "--settings", str(conf)], cwd=conf.parent,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"))


def test_two_workers_never_do_one_job_twice(database, tmp_path, monkeypatch, smtp):  # noqa: F811
    marker = tmp_path / "hook"
    # The hook says when each rebuild's publishing starts and ends: never two at once.
    conf = make_site(tmp_path / "site", posts=3,
                     hook=f"echo start >> {marker}; sleep 0.3; echo end >> {marker}")
    settings = settings_for(conf)
    state = open_state(settings)
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers = [_start_worker(conf, log) for log in logs]
    try:
        # Both start with a full build, one after the other.
        wait_for(lambda: marker.exists() and marker.read_text().count("end") == 2,
                 "the two first builds", 90)
        jobs = 12
        article = type("A", (), {"slug": "post-1", "title": "Beitrag 1", "lang": "de",
                                 "permalink": "http://127.0.0.1:8000/2026/post-1/"})()
        for n in range(jobs):
            state.rebuilds.put()
            state.webmentions.put(Job(source=f"https://source.example/{n}",
                                      target=f"https://elsewhere.example/{n}"))
            assert reader_mail.request(settings, email=f"leser{n}@example.org", name="L",
                                       article=article, scope="all") == "new"
        # Drained: no request left, leased ones included (a rebuild in progress holds
        # its requests until its hook has ended).
        wait_for(lambda: len(smtp.messages) >= jobs and not len(state.webmentions)
                 and _requests(state) == 0, "the queues drained", 60)
        # A rebuild in progress when SIGTERM comes is finished, then the worker stops.
        starts = marker.read_text().count("start")
        state.rebuilds.put()
        wait_for(lambda: marker.read_text().count("start") > starts, "a rebuild", 30)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(60) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    text = "".join(log.read_text() for log in logs)
    assert text.count("replik worker: stopped") == 2, text
    assert marker.read_text() == "start\nend\n" * marker.read_text().count("start"), text
    assert _requests(state) == 0
    # Each request went into exactly one rebuild, each webmention and mail to one worker.
    claimed = sum(int(n) for n in re.findall(r"rebuild of (\d+) requests", text))
    assert claimed == jobs + 1, text
    sources = Counter(re.findall(r"webmention (https://source\.example/\d+) ->", text))
    assert sources == Counter({f"https://source.example/{n}": 1 for n in range(jobs)})
    recipients = Counter(r for rcpts, _ in smtp.messages for r in rcpts)
    assert recipients == Counter({f"leser{n}@example.org": 1 for n in range(jobs)})
