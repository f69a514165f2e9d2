"""Two app nodes sharing one PostgreSQL database behave as one.

Two gunicorn instances (2 workers each) on two loopback ports, both with
``REPLIK_DATABASE_URL`` naming one throwaway database and both on the same project
folder, as two machines behind a load balancer. A burst of POSTs from 32 clients
spread over both; one node is killed with SIGKILL (master and workers at once)
mid-burst, and its clients go on against the other node, as a load balancer
would send them. Every acknowledged comment must be in the database exactly
once (each body carries a marker of its own), no comment twice. A login lockout
reached on one node holds on the other, and a session opened on one is valid on
the other. An approval on node B goes live once, by one rebuild of ``replik
worker``, with one run of the publish hook.

PostgreSQL restarted mid-burst (a fifth of the burst's size): every answer is an
acknowledgement or a 503 with Retry-After, each comment stored once, and nodes and
worker go on without a restart. ``REPLIK_MULTINODE_POSTS`` sets the burst's size
(the issue's 10,000).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from liveserver import free_port
from test_desk_auth import ACCOUNT, HASH_VARIABLE, PASSWORD, Visitor, assert_refused, env
from test_gunicorn_concurrency import post_numbered, start_gunicorn
from test_intake_support import write_conf

pytestmark = pytest.mark.slow
__all__ = ["env"]  # a fixture, used by name

TOTAL = int(os.environ.get("REPLIK_MULTINODE_POSTS") or 10_000)
CLIENTS = 32
RETRIES = 5  # sends of one comment answered 503, at most
MARKER = re.compile(r"Marke (\d+)\b")


class Nodes:
    """Two gunicorn app nodes on one database; ``kill(i)`` is a machine dying."""

    def __init__(self, conf: Path) -> None:
        self.conf = conf
        self.ports = [free_port(), free_port()]
        self.processes: list[subprocess.Popen] = []
        for port in self.ports:
            self.processes.append(start_gunicorn(conf, port, workers=2, threads=8))

    def base(self, node: int) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    def kill(self, node: int) -> None:
        os.killpg(self.processes[node].pid, signal.SIGKILL)
        self.processes[node].wait(30)

    def stop(self) -> bytes:
        errors = b""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
            errors += process.communicate(timeout=30)[1]
        return errors


REPLIK = str(Path(sys.executable).with_name("replik"))


@pytest.fixture
def nodes(tmp_path: Path, pg_url: str, env: None,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Nodes]:
    monkeypatch.setenv("REPLIK_DATABASE_URL", pg_url)
    subprocess.run([REPLIK, "db", "upgrade"], check=True, capture_output=True)
    # No flood limit: 32 clients share one address. Distinct bodies: no duplicates.
    # Rebuilds are the worker's: with REPLIK_DATABASE_URL the nodes only ask for them.
    conf = write_conf(tmp_path, REPLIK_FLOOD_PER_MINUTE=0,
                      REPLIK_MODERATORS={ACCOUNT: HASH_VARIABLE},
                      REPLIK_PUBLISH_HOOK=f"echo run >> {tmp_path / 'hook-runs'}")
    running = Nodes(conf)
    try:
        yield running
    finally:
        errors = running.stop()
    assert b"Traceback" not in errors, errors.decode(errors="replace")[-3000:]


def burst(nodes: Nodes, total: int, clients: int, at: int, midway: Callable[[], None],
          refused: threading.Event | None = None) -> tuple[list[int], Counter]:
    """POST ``total`` comments, client i to node i % 2; ``midway`` runs once ``at``
    comments are acknowledged (a node killed, the database restarted). A client
    answered 503 with Retry-After sends its comment again once ``midway`` is over,
    as a reader would after the wait. Returns the acknowledged markers and the
    count of every answer (a failed connection as "node i: error"). ``refused`` is
    set at the first 503."""
    acknowledged: list[int] = []
    statuses: Counter = Counter()
    lock = threading.Lock()
    numbers = iter(range(total))
    half_way = threading.Event()
    begun = threading.Event()
    over = threading.Event()

    def client(node: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", nodes.ports[node], timeout=30)
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                connection.close()
                return
            for attempt in range(RETRIES):
                if attempt:
                    over.wait(600)
                status: int | str
                try:
                    response, data = post_numbered(
                        connection, number,
                        f"Kommentar mit Marke {number}: zwei Knoten, eine Datenbank.")
                    status = response.status
                    if status == 503 and int(response.getheader("Retry-After") or 0) <= 0:
                        status = "503 without Retry-After"
                except (OSError, http.client.HTTPException) as exc:
                    status, data = f"node {node}: {exc.__class__.__name__}", b""
                    connection.close()
                    if begun.is_set() and node == 1:
                        node = 0  # the load balancer sends this client to the node still up
                    connection = http.client.HTTPConnection("127.0.0.1", nodes.ports[node],
                                                            timeout=30)
                if attempt and status == 409:
                    status = "409 on resending"  # the first sending was stored after all
                with lock:
                    statuses[status] += 1
                    if status == 503 and refused is not None:
                        refused.set()
                    if status == 201:
                        assert json.loads(data)["id"]
                    if status in (201, "409 on resending"):
                        acknowledged.append(number)
                        if len(acknowledged) >= at:
                            half_way.set()
                if status != 503:
                    break

    threads = [threading.Thread(target=client, args=(i % 2,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    assert half_way.wait(600), statuses
    # Set first: a client whose connection fails from now on moves over at its
    # first failure (a balancer's health check), whatever midway's own wait.
    begun.set()
    midway()
    over.set()
    for thread in threads:
        thread.join(600)
    return acknowledged, statuses


def stored_markers(url: str) -> Counter:
    with psycopg.connect(url) as db:
        bodies = [body for (body,) in db.execute("SELECT body FROM entries")]
    return Counter(int(MARKER.search(body).group(1)) for body in bodies)  # type: ignore[union-attr]


def test_a_burst_over_two_nodes_survives_one_killed(nodes: Nodes, pg_url: str) -> None:
    acknowledged, statuses = burst(nodes, TOTAL, CLIENTS, TOTAL // 3, lambda: nodes.kill(1))
    failed = {s: n for s, n in statuses.items() if s != 201}
    # Only the killed node's connections fail, never with an answer: no 4xx, no 5xx.
    assert all(isinstance(s, str) and s.startswith("node 1:") for s in failed), statuses
    assert sum(failed.values()) <= CLIENTS, statuses  # at most one request per client lost
    assert statuses[201] == len(acknowledged) >= TOTAL - CLIENTS
    stored = stored_markers(pg_url)
    assert [m for m, n in stored.items() if n > 1] == []  # 0 duplicated
    assert set(acknowledged) <= set(stored)  # every acknowledged comment is there
    # A request the dead node took without answering may or may not be stored.
    assert len(stored) - len(acknowledged) <= sum(failed.values())


def test_a_lockout_on_one_node_holds_on_the_other(nodes: Nodes, pg_url: str,
                                                  tmp_path: Path) -> None:
    # A session opened on node A is valid on node B (sessions live in the database).
    a = Visitor(nodes.base(0))
    assert a.login(PASSWORD).status_code == 302
    with httpx.Client(base_url=nodes.base(1), cookies=a.http.cookies) as b:
        assert "/moderate/logout" in b.get("/moderate/queue", follow_redirects=True).text
    a.http.cookies.clear()
    # Five wrong passwords on node A, then the address is locked out on both nodes.
    a = Visitor(nodes.base(0))
    for number in range(5):
        assert a.login(f"falsch-{number}").status_code == 401
    assert_refused(a.login(PASSWORD))
    assert_refused(Visitor(nodes.base(1)).login(PASSWORD))
    # Counted in the database, not in a state file the two nodes' folder happens to share.
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT count(*) FROM login_attempts").fetchone() == (5,)
    assert list(tmp_path.rglob("*.sqlite3")) == []


def approve_on_b(nodes: Nodes, pg_url: str) -> tuple[Visitor, float]:
    """A comment posted on node A and approved on node B; the moderator, and when."""
    answer = httpx.post(f"{nodes.base(0)}/replik/comment", headers={"Accept": "application/json"},
                        data={"article": "offene-debatte", "author": "Leserin",
                              "email": "leserin@example.org", "consent": "yes",
                              "body": "Auf Knoten A geschrieben, auf B freigegeben."})
    assert answer.status_code == 201, answer.text
    entry = answer.json()["id"]
    moderator = Visitor(nodes.base(1))
    assert moderator.login(PASSWORD).status_code == 302
    queue = moderator.http.get("/moderate/queue").text
    token = re.search(r'name="csrf" value="([^"]+)"', queue).group(1)  # type: ignore[union-attr]
    since = time.time()
    decided = moderator.http.post(f"/moderate/entry/{entry}/act",
                                  data={"csrf": token, "action": "approve"})
    assert decided.status_code == 302 and decided.headers["Location"].endswith(entry)
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT state FROM entries WHERE id = %s", (entry,)).fetchone() \
            == ("approved",)
    return moderator, since


def is_live(nodes: Nodes, node: int, moderator: Visitor, since: float) -> bool:
    """The node's desk says the site was rebuilt after ``since`` (the status is in the database)."""
    with httpx.Client(base_url=nodes.base(node), cookies=moderator.http.cookies) as desk:
        return desk.get("/moderate/live", params={"since": since}).json()["live"]


def test_an_approval_on_node_b_goes_live_once_by_the_worker(nodes: Nodes, pg_url: str,
                                                           tmp_path: Path) -> None:
    pytest.importorskip("replik.worker")
    moderator, since = approve_on_b(nodes, pg_url)
    assert not (tmp_path / "hook-runs").exists()  # neither node rebuilt anything itself
    assert is_live(nodes, 0, moderator, since) is False

    def worker_once() -> str:
        done = subprocess.run([REPLIK, "worker", "--once", "--settings", str(nodes.conf)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr

    log = worker_once()
    assert len(re.findall(r"rebuild of 1 requests", log)) == 1, log
    assert (tmp_path / "hook-runs").read_text() == "run\n"  # one rebuild, one publish hook
    assert is_live(nodes, 0, moderator, since) and is_live(nodes, 1, moderator, since)
    assert "0 jobs done" in worker_once()  # nothing left: no second rebuild
    assert (tmp_path / "hook-runs").read_text() == "run\n"


def test_a_database_restart_mid_burst_loses_nothing(nodes: Nodes, pg_cluster, pg_url: str,
                                                    tmp_path: Path) -> None:
    """PostgreSQL stopped (fast: open transactions are ended) while 32 clients post, and
    started again once a request has been refused: every answer is an acknowledgement
    or a 503 with Retry-After, the comments answered 503 go in when sent again, each
    once; nodes and worker go on."""
    worker = subprocess.Popen([REPLIK, "worker", "--settings", str(nodes.conf)], cwd=tmp_path,
                              stderr=subprocess.PIPE, text=True)
    try:
        total = TOTAL // 5
        refused = threading.Event()

        def outage() -> None:
            pg_cluster.stop()
            try:
                # Down until a request is answered 503: one caught mid-statement at
                # once, else one that waited the pool's 5 s for a connection.
                refused.wait(60)
            finally:
                pg_cluster.start_again()

        acknowledged, statuses = burst(nodes, total, CLIENTS, total // 3, outage, refused)
        # No 500, no hang, no lost connection; a 409 ("posted already") only when sent
        # again, after a commit whose answer the restart cut off.
        assert set(statuses) <= {201, 503, "409 on resending"}, statuses
        assert statuses[503] > 0, statuses  # the outage met requests
        assert sorted(acknowledged) == list(range(total)), statuses
        # Each comment stored once: a 503 stored nothing (or all, with its claim).
        assert stored_markers(pg_url) == Counter(range(total))
        # The worker, not restarted either, puts an approval made after the restart live.
        moderator, since = approve_on_b(nodes, pg_url)
        deadline = time.monotonic() + 120
        while not is_live(nodes, 1, moderator, since):
            assert worker.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        worker.terminate()
        log = worker.communicate(timeout=60)[1]
    assert worker.returncode == 0, log
