"""10,000 POSTs from 32 concurrent clients to 2 gunicorn workers: every acknowledged
comment is stored exactly once, and no request gets a 5xx."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import pytest
from liveserver import free_port
from test_intake_support import write_conf

TOTAL = 10_000
CLIENTS = 32


def start_gunicorn(conf: Path, port: int, workers: int = 2, threads: int = 8) -> subprocess.Popen:
    """gunicorn in a session of its own: ``os.killpg`` ends the master and its workers."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON_AKISMET_", "REPLIK_SMTP_"))}
    process = subprocess.Popen(
        [str(gunicorn), "--workers", str(workers), "--worker-class", "gthread",
         "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--backlog", "256",
         "--keep-alive", "30",
         "--log-level", "warning", f"replik.server.app:create_app({str(conf)!r})"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/replik/thanks")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode(errors="replace"))
    process.kill()
    raise RuntimeError("gunicorn did not start")


def post_numbered(connection: http.client.HTTPConnection, number: int,
                  text: str) -> tuple[http.client.HTTPResponse, bytes]:
    """POST comment ``number`` as a script would (JSON answer) on a keep-alive
    connection; a failed connection raises."""
    body = urlencode({
        "article": "offene-debatte", "author": f"Leser {number}",
        "email": f"leser{number}@example.org", "consent": "yes", "body": text,
    })
    connection.request("POST", "/replik/comment", body, {
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
    response = connection.getresponse()
    return response, response.read()


def post_comments(port: int, total: int, clients: int) -> tuple[list[str], Counter]:
    acknowledged: list[str] = []
    statuses: Counter = Counter()
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        # One keep-alive connection per client, opened again after any failure.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                connection.close()
                return
            try:
                response, data = post_numbered(
                    connection, number,
                    f"Kommentar Nummer {number}: Gleichzeitig ist nicht dasselbe.")
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status, data = f"error {exc.__class__.__name__}", b""
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            with lock:
                statuses[status] += 1
                if status == 201:
                    acknowledged.append(json.loads(data)["id"])

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return acknowledged, statuses


@pytest.mark.slow
def test_ten_thousand_posts_two_workers(tmp_path):
    conf = write_conf(tmp_path, REPLIK_FLOOD_PER_MINUTE=0)
    port = free_port()
    process = start_gunicorn(conf, port)
    try:
        acknowledged, statuses = post_comments(port, TOTAL, CLIENTS)
    finally:
        process.terminate()
        _out, errors = process.communicate(timeout=30)
    assert statuses == Counter({201: TOTAL}), statuses
    assert b"Traceback" not in errors, errors.decode(errors="replace")[-2000:]
    files = [p.stem for p in (tmp_path / "comments").rglob("*.txt")]
    assert len(files) == TOTAL
    assert Counter(files) == Counter(acknowledged)  # each acknowledged entry exactly once
    assert list((tmp_path / "comments" / "tmp").iterdir()) == []
