"""Comment intake throughput and latency: Replik against Isso 0.14 (``POST /new``).

Replik runs three ways: on its file store; on PostgreSQL (``REPLIK_DATABASE_URL``,
a throwaway cluster of the tests' ``pgcluster`` with fsync on, as durable as the
files), one app node; and on PostgreSQL with two app nodes (two gunicorns on one
project folder and one database, the 32 clients split between them). Without
PostgreSQL installed, the file store and Isso only.

Both run under gunicorn with the same flags (2 workers, gthread) and get the same
load from the same client: 32 concurrent connections, each POSTing new comments
(every text unique) on its own keep-alive connection. Replik runs with its spam
rules on (flood control counting, duplicate detection, link hold, honeypot) and
Akismet replaced by the package's ``TestSyncClient``; Isso runs with moderation on
and its guard on (rate limits raised so it accepts the load). Isso lives in its
own environment, ``bench-out/isso-venv`` (created with ``pip install isso==0.14.0
gunicorn`` on first use).

The load client is wrk (``apt-get install wrk``) with ``benchmarks/intake.lua``:
every status is counted (only 2xx is a success) and the latency distribution of
each round is merged over all rounds. Without wrk, a client of Python threads in
this process does the same work by request count; on a small machine it inflates
the latency (its own CPU use and GIL contention), and the report says so. After
the run, every stored comment is checked to be there exactly once.

Settings (environment): ``BENCH_INTAKE_SECONDS`` (12 per round, wrk),
``BENCH_INTAKE_REQUESTS`` (3000 per server over all rounds, Python client),
``BENCH_INTAKE_CLIENT`` (``wrk`` or ``python``; default wrk when installed),
``BENCH_INTAKE_CLIENTS`` (32), ``BENCH_INTAKE_WRK_THREADS`` (2),
``BENCH_INTAKE_WORKERS`` (2), ``BENCH_INTAKE_THREADS`` (4 per worker),
``BENCH_INTAKE_WORKER_CONNECTIONS`` (4 per thread: at most 16 connections per worker),
``BENCH_INTAKE_ROUNDS`` (3: the servers take turns, so both see the same machine
conditions).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .disk import measure as disk_measure
from .measure import file_creation_us

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-out"
ISSO_VERSION = "0.14.0"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, path: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


# -- the load clients ---------------------------------------------------------------------
#
# wrk (a C load generator, Debian package ``wrk``) drives both servers when it is
# installed: 32 connections from 2 event-loop threads, so the client takes little
# CPU from the servers and adds no latency of its own. Without it, a fallback of
# Python threads does the same work, but on a small machine its own GIL contention
# and CPU use inflate the measured latency (and take CPU from the servers).

LUA_SCRIPT = Path(__file__).with_name("intake.lua")
WRK_TIMEOUT_S = 10
#: wrk gives the latency distribution of a run as quantiles 0.05 % apart.
WRK_QUANTILE_STEP = 0.05
MIN_REQUESTS = 3000


def load_client() -> str:
    """``wrk`` or ``python`` (``BENCH_INTAKE_CLIENT`` chooses; default: wrk if installed)."""
    wanted = (os.environ.get("BENCH_INTAKE_CLIENT") or "").strip().lower()
    if wanted in ("python", "wrk"):
        if wanted == "wrk" and not shutil.which("wrk"):
            raise RuntimeError("BENCH_INTAKE_CLIENT=wrk but wrk is not installed "
                               "(apt-get install wrk)")
        return wanted
    return "wrk" if shutil.which("wrk") else "python"


def _percentiles(samples: list[tuple[float, float]]) -> dict[str, float]:
    """p50/p95/p99/max of weighted latency samples ``(ms, weight)``."""
    ordered = sorted(samples)
    total = sum(w for _, w in ordered)
    wanted = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
    result: dict[str, float] = {}
    seen = 0.0
    for value, weight in ordered:
        seen += weight
        for name, p in wanted.items():
            if name not in result and seen >= total * p:
                result[name] = round(value, 2)
    for name in wanted:
        result.setdefault(name, round(ordered[-1][0], 2))
    result["max"] = round(ordered[-1][0], 2)
    return result


def _summary(client: str, requests: int, statuses: dict[str, int], seconds: float,
             samples: list[tuple[float, float]], mean_ms: float) -> dict[str, Any]:
    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    return {
        "client": client, "samples": samples, "requests": requests, "ok": ok,
        "statuses": statuses, "seconds": round(seconds, 2),
        "throughput_per_s": round(ok / seconds, 1) if seconds else 0.0,
        "latency_ms": {"mean": round(mean_ms, 2), **_percentiles(samples)} if samples else {},
    }


def load_python(port: int, make_request: Any, total: int, clients: int,
                tag: str) -> dict[str, Any]:
    """POST ``total`` requests from ``clients`` threads (the fallback client)."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    numbers = iter(range(total))

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                break
            path, body, headers = make_request(f"{tag}-{number}")
            start = time.perf_counter()
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                response.read()
                status = str(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException) as exc:
                status = exc.__class__.__name__
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return _summary("python", total, statuses, seconds, [(x, 1.0) for x in latencies],
                    statistics.fmean(latencies) if latencies else 0.0)


def load_wrk(port: int, make_request: Any, seconds: float, clients: int, tag: str,
             log: Path) -> dict[str, Any]:
    """Run wrk for ``seconds`` with ``clients`` connections; every body is unique."""
    path, body, headers = make_request("{n}")
    threads = max(1, min(clients, _env_int("BENCH_INTAKE_WRK_THREADS", 2)))
    argv = ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds:g}s",
            "--timeout", f"{WRK_TIMEOUT_S}s", "--latency", "-s", str(LUA_SCRIPT),
            f"http://127.0.0.1:{port}", "--", path, tag, body,
            "\n".join(f"{k}: {v}" for k, v in headers.items())]
    done = subprocess.run(argv, capture_output=True, text=True, check=False,
                          timeout=seconds + 120)
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ wrk ... {tag} ({clients} connections, {seconds:g} s)\n")
        out.write("".join(line + "\n" for line in done.stdout.splitlines()
                          if not line.startswith("WRK-JSON ")))
        out.write(done.stderr)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK-JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    data = json.loads(line.removeprefix("WRK-JSON "))
    statuses = {str(k): v for k, v in data["statuses"].items()}
    for kind, count in data["errors"].items():
        if count:  # a socket error or timeout is a failed request, never a success
            statuses[f"socket {kind}"] = count
    answered = sum(n for s, n in data["statuses"].items())
    quantiles = data["latency_us"]["quantiles"]
    # Each quantile stands for an equal share of the answered requests.
    weight = answered / (len(quantiles) + 1) if quantiles else 0.0
    samples = [(q / 1000, weight) for q in quantiles]
    if quantiles:
        samples.append((data["latency_us"]["max"] / 1000, weight))
    requests = answered + sum(data["errors"].values())
    return _summary("wrk", requests, statuses, data["duration_us"] / 1e6, samples,
                    data["latency_us"]["mean"] / 1000)


def _threads() -> int:
    return _env_int("BENCH_INTAKE_THREADS", 4)


def _worker_connections() -> int:
    return _env_int("BENCH_INTAKE_WORKER_CONNECTIONS", 4 * _threads())


def gunicorn_argv(gunicorn: Path, app: str, port: int) -> list[str]:
    """The same flags for both servers: the README's deployment (gthread, 4 threads,
    16 connections per worker), with one worker per core of this 2-core machine
    (``BENCH_INTAKE_WORKERS``; 4 workers measured lower here, see docs/benchmarks.md).

    ``--worker-connections`` caps the connections one worker holds (4 per
    thread). Without it gthread's workers take keep-alive connections as they
    come, and one worker often held 24-30 of the 32 while the other idled, so
    that worker's queue set the tail latency for everybody.
    """
    threads, connections = _threads(), _worker_connections()
    return [str(gunicorn), "--workers", str(_env_int("BENCH_INTAKE_WORKERS", 2)),
            "--worker-class", "gthread", "--threads", str(threads),
            "--worker-connections", str(connections),
            "--bind", f"127.0.0.1:{port}", "--backlog", "512", "--keep-alive", "30",
            "--log-level", "warning", app]


@dataclass
class Server:
    """One gunicorn under test: how to start it and what to POST to it.

    ``make_request(token)`` gives (path, body, headers) for a new comment whose
    text contains ``token`` (wrk's script puts a unique word where ``{n}`` is).
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    make_request: Any
    log: Path
    #: Run once before gunicorn starts (e.g. to create a database its workers share).
    prepare: list[str] | None = None
    process: subprocess.Popen | None = None
    #: More nodes of the same service (the same database): started, stopped and
    #: loaded with this one, the clients split between them.
    peers: list[Server] = field(default_factory=list)
    #: PostgreSQL's postmaster: its backends' CPU time counts as this service's too
    #: (the servers take turns, so it is this service's work).
    database_pid: int = 0

    def start(self) -> None:
        if self.prepare:
            subprocess.run(self.prepare, env=self.env, check=True)
        with open(self.log, "wb") as log_file:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=log_file,
                                            stderr=subprocess.STDOUT)
        wait_for(self.port, self.ready_path, self.process)
        for peer in self.peers:
            peer.start()

    def stop(self) -> None:
        for peer in self.peers:
            peer.stop()
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def cpu_seconds(self) -> float:
        """CPU time of the gunicorn masters and their live workers, and of PostgreSQL's."""
        pids = [s.process.pid for s in (self, *self.peers) if s.process is not None]
        return sum(tree_cpu_seconds(pid) for pid in [*pids, self.database_pid] if pid)

    def load(self, client: str, tag: str, clients: int, *, seconds: float,
             requests: int) -> dict[str, Any]:
        """One load run: wrk for ``seconds``, or the Python client for ``requests``;
        with peers, the clients split over the nodes, all loaded at once."""
        if not self.peers:
            return self._load(client, tag, clients, seconds=seconds, requests=requests)
        nodes = [self, *self.peers][:clients]  # one client alone: one node
        results: list[dict[str, Any]] = [{} for _ in nodes]

        def one(number: int) -> None:
            share = len(range(number, clients, len(nodes)))
            results[number] = nodes[number]._load(
                client, f"{tag}n{number}", share, seconds=seconds,
                requests=requests * share // clients)

        threads = [threading.Thread(target=one, args=(n,)) for n in range(len(nodes))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return at_once(results)

    def _load(self, client: str, tag: str, clients: int, *, seconds: float,
              requests: int) -> dict[str, Any]:
        if client == "wrk":
            return load_wrk(self.port, self.make_request, seconds, clients, tag,
                            self.log.with_suffix(".wrk.log"))
        return load_python(self.port, self.make_request, requests, clients, tag)


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its live children (NaN if not Linux)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return float("nan")
    total = 0
    for one in [pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def at_once(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Load runs that ran side by side (one per node) as one: their requests added,
    their latencies together, the time of the longest."""
    statuses: dict[str, int] = {}
    for r in runs:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    samples = [s for r in runs for s in r["samples"]]
    weights = [sum(w for _, w in r["samples"]) for r in runs]
    mean = sum(r["latency_ms"].get("mean", 0.0) * w for r, w in zip(runs, weights, strict=True))
    return _summary(runs[0]["client"], sum(r["requests"] for r in runs), statuses,
                    max(r["seconds"] for r in runs), samples,
                    mean / sum(weights) if sum(weights) else 0.0)


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Several rounds as one result: all requests, the whole latency distribution."""
    samples = [s for r in rounds for s in r["samples"]]
    statuses: dict[str, int] = {}
    for r in rounds:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    answered = [(r["latency_ms"].get("mean", 0.0), sum(w for _, w in r["samples"]))
                for r in rounds]
    weights = sum(w for _, w in answered)
    mean = sum(m * w for m, w in answered) / weights if weights else 0.0
    result = _summary(rounds[0]["client"], sum(r["requests"] for r in rounds), statuses,
                      sum(r["seconds"] for r in rounds), samples, mean)
    result["rounds_throughput_per_s"] = [r["throughput_per_s"] for r in rounds]
    cpu = sum(r.get("server_cpu_s", float("nan")) for r in rounds)
    # Server CPU per stored comment: less sensitive to other load on the machine.
    result["server_cpu_ms_per_comment"] = round(cpu / result["ok"] * 1000, 2) if result["ok"] \
        else None
    result["rounds_p99_ms"] = [r["latency_ms"].get("p99") for r in rounds]
    result["rounds_cpu_ms_per_comment"] = [
        round(r.get("server_cpu_s", float("nan")) / r["ok"] * 1000, 2) if r["ok"] else None
        for r in rounds]
    return result


def compare(servers: list[Server]) -> dict[str, dict[str, Any]]:
    """Start all servers, then load them in alternating rounds (same machine conditions)."""
    client = load_client()
    total = _env_int("BENCH_INTAKE_REQUESTS", MIN_REQUESTS)
    clients = _env_int("BENCH_INTAKE_CLIENTS", 32)
    rounds = max(1, _env_int("BENCH_INTAKE_ROUNDS", 3))
    seconds = float(os.environ.get("BENCH_INTAKE_SECONDS") or 12)
    per_round = max(1, total // rounds)
    results: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    alone: dict[str, dict[str, Any]] = {}
    acknowledged = {s.name: 0 for s in servers}
    try:
        for server in servers:
            server.start()
            # Warm-up: imports, first connections, caches (not measured).
            warm = server.load(client, "warm", clients, seconds=2, requests=200)
            acknowledged[server.name] += warm["ok"]
        for number in range(rounds):
            for server in servers:
                cpu = server.cpu_seconds()
                result = server.load(client, f"r{number + 1}", clients, seconds=seconds,
                                     requests=per_round)
                result["server_cpu_s"] = server.cpu_seconds() - cpu
                acknowledged[server.name] += result["ok"]
                results[server.name].append(result)
        for server in servers:
            # One client alone: the latency without queueing behind 31 others.
            alone[server.name] = server.load(client, "alone", 1, seconds=3, requests=300)
            acknowledged[server.name] += alone[server.name]["ok"]
    finally:
        for server in servers:
            server.stop()
    combined = {}
    for server in servers:
        combined[server.name] = combine(results[server.name])
        combined[server.name]["single_client_latency_ms"] = alone[server.name]["latency_ms"]
        combined[server.name]["acknowledged_all_runs"] = acknowledged[server.name]
    return combined


# -- Replik ------------------------------------------------------------------------------


def replik_site(folder: Path) -> Path:
    content = folder / "content"
    content.mkdir(parents=True, exist_ok=True)
    (content / "bench.md").write_text(
        "Title: Benchmark\nDate: 2026-03-05 11:47\nSlug: bench\n\nEin Beitrag.\n",
        encoding="utf-8")
    conf = folder / "pelicanconf.py"
    conf.write_text("\n".join([
        f"exec(open({str(ROOT / 'pelicanconf.py')!r}, encoding='utf-8').read())",
        f"PATH = {str(content)!r}",
        f"OUTPUT_PATH = {str(folder / 'output')!r}",
        f"THEME = {str(ROOT / 'theme')!r}",
        f"PLUGIN_PATHS = [{str(ROOT / 'plugins')!r}]",
        f"REPLIK_STORE = {str(folder / 'comments')!r}",
        f"REPLIK_CACHE = {str(folder / 'cache')!r}",
        # Spam rules on; the flood limit is high enough for one benchmark client address.
        "REPLIK_FLOOD_PER_MINUTE = 10_000_000",
        "REPLIK_DISALLOWED_KEYS = ['casino', 'viagra']",
        "REPLIK_MODERATION_KEYS = ['anwalt']",
        "REPLIK_AKISMET_CLIENT = 'akismet.TestSyncClient'",
    ]) + "\n", encoding="utf-8")
    return conf


def replik_server(folder: Path, name: str = "replik", database_url: str = "",
                  nodes: int = 1) -> Server:
    """Replik on its file store, or on PostgreSQL (``database_url``) with ``nodes``
    app nodes: gunicorns of their own on one project folder and one database."""
    conf = replik_site(folder)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON_AKISMET_", "REPLIK_SMTP_", "REPLIK_DATABASE_URL"))}
    prepare = None
    if database_url:
        env["REPLIK_DATABASE_URL"] = database_url
        prepare = [str(Path(sys.executable).with_name("replik")), "db", "upgrade"]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    app = f"replik.server.app:create_app({str(conf)!r})"

    def make_request(token: str) -> tuple[str, str, dict[str, str]]:
        body = json.dumps({
            "article": "bench", "author": "Leserin", "email": "leserin@example.org",
            "consent": "yes", "body": f"Kommentar {token}: Ein ganz normaler Beitrag.",
        })
        return "/replik/comment", body, {
            "Content-Type": "application/json", "Accept": "application/json",
            "Origin": "http://127.0.0.1:8000", "User-Agent": "bench"}

    servers = []
    for number in range(nodes):
        port = free_port()
        servers.append(Server(name, gunicorn_argv(gunicorn, app, port), env, port,
                              "/replik/thanks", make_request,
                              folder / f"gunicorn-{number + 1}.log",
                              None if number else prepare))
    servers[0].peers = servers[1:]
    return servers[0]


# -- Isso ----------------------------------------------------------------------------------


def isso_venv() -> Path:
    venv = OUT / "isso-venv"
    python = venv / "bin" / "python"
    if not (venv / "bin" / "gunicorn").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        f"isso=={ISSO_VERSION}", "gunicorn"], check=True)
    return venv


class _Page(BaseHTTPRequestHandler):
    """The blog page Isso fetches once to create the thread."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        body = b"<html><head><title>Benchmark</title></head><body><h1>Benchmark</h1></body>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        return


def isso_server(folder: Path, host: str) -> Server:
    venv = isso_venv()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "isso.cfg"
    config.write_text(f"""[general]
dbpath = {folder / 'comments.db'}
host = {host}/
notify = stdout
log-file = {folder / 'isso.log'}

[moderation]
enabled = true

[guard]
enabled = true
ratelimit = 10000000
direct-reply = 10000000
reply-to-self = true
require-author = false
require-email = false
""", encoding="utf-8")
    port = free_port()
    env = {**os.environ, "ISSO_SETTINGS": str(config)}
    env.pop("PYTHONPATH", None)
    argv = gunicorn_argv(venv / "bin" / "gunicorn", "isso.run:application", port)

    def make_request(token: str) -> tuple[str, str, dict[str, str]]:
        body = json.dumps({"text": f"Kommentar {token}: Ein ganz normaler Beitrag.",
                           "author": "Leserin", "email": "leserin@example.org",
                           "website": None})
        return "/new?" + urlencode({"uri": "/bench/"}), body, {
            "Content-Type": "application/json", "Origin": host, "User-Agent": "bench"}

    # Isso's workers each create the database's preferences when they find none; two
    # workers booting at once can both try, and one dies (gunicorn then stops).
    # Creating the database once before gunicorn starts avoids that race.
    prepare = [str(venv / "bin" / "python"), "-c", "import isso.run"]
    return Server("isso", argv, env, port, "/info", make_request, folder / "gunicorn.log",
                  prepare)


# -- the report ----------------------------------------------------------------------------


def replik_stored(store: Path) -> tuple[int, int]:
    """Entries in Replik's store and how many different texts they hold."""
    texts = set()
    files = 0
    for path in store.rglob("*.txt"):
        if path.parent.name == "tmp":
            continue
        files += 1
        texts.add(path.read_bytes().partition(b"\n\n")[2])
    return files, len(texts)


def postgres_stored(url: str) -> tuple[int, int]:
    """Entries in Replik's PostgreSQL store and how many different texts they hold."""
    import psycopg

    with psycopg.connect(url) as db:
        row = db.execute("SELECT count(*), count(DISTINCT body) FROM entries").fetchone()
    return int(row[0]), int(row[1])


def postgres_cluster() -> Any:
    """A throwaway PostgreSQL cluster (the tests' ``pgcluster``), durable like the
    file store (fsync on); None when PostgreSQL is not installed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pgcluster", ROOT / "tests" / "pgcluster.py")
    assert spec and spec.loader
    pgcluster = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pgcluster)
    bindir = pgcluster.find_bin()
    if bindir is None:
        return None
    cluster = pgcluster.Cluster(bindir, durable=True)
    cluster.start()
    return cluster


def isso_stored(database: Path) -> tuple[int, int]:
    """Comments in Isso's database and how many different texts they hold."""
    with closing(sqlite3.connect(database)) as db:
        files, texts = db.execute("SELECT COUNT(*), COUNT(DISTINCT text) FROM comments").fetchone()
    return int(files), int(texts)


def check_stored(result: dict[str, Any], stored: tuple[int, int], clients: int) -> str:
    """Every acknowledged comment stored exactly once ('' when so, else the problem).

    wrk stops at the end of its time with up to one request per connection still
    on its way; the server may store those without the client seeing the answer.
    """
    files, texts = stored
    result["stored"], result["stored_distinct_texts"] = files, texts
    acknowledged = result["acknowledged_all_runs"]
    runs = 2 + _env_int("BENCH_INTAKE_ROUNDS", 3)  # warm-up, rounds, one client alone
    in_flight = clients * runs if result["client"] == "wrk" else 0
    if texts != files:
        return f"{files - texts} texts stored twice"
    if files < acknowledged:
        return f"only {files} stored of {acknowledged} acknowledged"
    if files > acknowledged + in_flight:
        return f"{files} stored but only {acknowledged} acknowledged"
    return ""


def _line(name: str, r: dict[str, Any]) -> str:
    other = {s: n for s, n in r["statuses"].items() if not s.startswith("2")}
    failed = f", not 2xx: {other}" if other else ""
    return (f"{name}: {r['throughput_per_s']} comments/s, p50 {r['latency_ms']['p50']} ms, "
            f"p99 {r['latency_ms']['p99']} ms ({r['ok']}/{r['requests']} ok{failed}; "
            f"{r['stored']} stored, each once; server CPU "
            f"{r['server_cpu_ms_per_comment']} ms per comment); one client alone: p50 "
            f"{r['single_client_latency_ms']['p50']} ms, p99 "
            f"{r['single_client_latency_ms']['p99']} ms")


RUNS = OUT / "intake-runs"


def work_folder() -> Path:
    """A new folder for this run, in another part of the disk than the last runs.

    Deleting a run's tens of thousands of files right before the next one slows
    every file the next run creates nearby: ext4 skips recently freed inodes when
    it allocates new ones (measured here: 0.5-0.9 ms of kernel time per new file
    for minutes, instead of 20-60 µs), which hits both servers (Replik's entry
    files, Isso's SQLite journal). So each run gets a new folder under a parent
    marked as a "top" directory (``chattr +T``: ext4 spreads its subfolders over
    the disk), and old runs are deleted only after the measurement.
    """
    RUNS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["chattr", "+T", str(RUNS)], capture_output=True, check=False)
    work = RUNS / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    work.mkdir()
    return work


def forget_old_runs(keep: Path) -> None:
    """Delete earlier runs' folders (after the measurement), keeping this one."""
    for old in [*RUNS.iterdir(), OUT / "intake"]:  # bench-out/intake: the old layout
        if old != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def run(report: dict) -> None:
    work = work_folder()
    creation_us = file_creation_us(work)
    # The disk's own stalls bound the p99 whatever the servers do (benchmarks/disk.py).
    disk = disk_measure(work / "disk", threads=8, seconds=5)
    client = load_client()
    if client == "python":
        print("intake: wrk is not installed (apt-get install wrk): using the Python load "
              "client; its own CPU use and GIL contention inflate the latency figures "
              "and take CPU from the servers.", flush=True)
    servers = [replik_server(work / "replik")]
    # PostgreSQL, on one node and on two (one database, the clients split over both).
    cluster = postgres_cluster()
    databases: dict[str, str] = {}
    if cluster is not None:
        for name, nodes in (("postgres", 1), ("postgres-2-nodes", 2)):
            databases[name] = cluster.create_database()
            servers.append(replik_server(work / name, name, databases[name], nodes))
            servers[-1].database_pid = int(
                (cluster.data / "postmaster.pid").read_text().split()[0])
    # The blog page Isso fetches once to create its thread.
    pages = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    isso_problem = ""
    try:
        servers.append(isso_server(work / "isso", f"http://127.0.0.1:{pages.server_port}"))
    except (OSError, subprocess.CalledProcessError) as exc:
        isso_problem = f"Isso {ISSO_VERSION} could not be installed: {exc}"
    try:
        results = compare(servers)
        stored = {name: postgres_stored(url) for name, url in databases.items()}
    finally:
        pages.shutdown()
        if cluster is not None:
            cluster.remove()
    print(f"intake: results in {work}", flush=True)
    clients = _env_int("BENCH_INTAKE_CLIENTS", 32)
    problems = []
    replik = results["replik"]
    problem = check_stored(replik, replik_stored(work / "replik" / "comments"), clients)
    if problem:
        problems.append(f"Replik: {problem}")
    section: dict[str, Any] = {
        "client": client,
        "clients": clients,
        "workers": _env_int("BENCH_INTAKE_WORKERS", 2),
        "threads_per_worker": _threads(),
        "worker_connections": _worker_connections(),
        "rounds": max(1, _env_int("BENCH_INTAKE_ROUNDS", 3)),
        "load_average_after": os.getloadavg()[0],
        "work_folder": str(work),
        "file_creation_us_before": creation_us,
        "disk_before": disk,
        "replik": replik,
    }
    lines = [f"load client: {client}" + (
        " (fallback: latency inflated by the Python client)" if client == "python" else
        f", {clients} connections")]
    lines.append(_line("Replik", replik))
    if not databases:
        lines.append("PostgreSQL is not installed: no PostgreSQL figures")
    for name in databases:
        problem = check_stored(results[name], stored[name], clients)
        if problem:
            problems.append(f"Replik on {name}: {problem}")
        section[name] = pg = results[name]
        ratio = round(pg["throughput_per_s"] / replik["throughput_per_s"], 2)
        section[f"{name}_ratio"] = ratio
        lines.append(_line(f"Replik on {name}", pg))
        p99 = "met" if pg["latency_ms"]["p99"] <= 50 else "missed"
        lines.append(f"{name}/files throughput: {ratio}×"
                     + (" (target ≥ 0.7×)" if name == "postgres" else "")
                     + f"; p99 target ≤ 50 ms: {p99}")
    if "isso" in results:
        isso = results["isso"]
        problem = check_stored(isso, isso_stored(work / "isso" / "comments.db"), clients)
        if problem:
            problems.append(f"Isso: {problem}")
        section["isso"] = isso
        ratio = round(replik["throughput_per_s"] / isso["throughput_per_s"], 2)
        section["throughput_ratio"] = ratio
        lines.append(_line(f"Isso {ISSO_VERSION}", isso))
        lines.append(f"Replik/Isso throughput: {ratio}× (target ≥ 2×); "
                     f"Replik p99 target ≤ 50 ms: "
                     f"{'met' if replik['latency_ms']['p99'] <= 50 else 'missed'}")
    else:
        section["isso"] = {"error": isso_problem}
        lines.append(isso_problem)
    for name, r in results.items():
        r.pop("samples", None)
        if r["requests"] < MIN_REQUESTS:
            lines.append(f"note: {name} got only {r['requests']} requests "
                         f"(fewer than {MIN_REQUESTS}); raise BENCH_INTAKE_SECONDS")
    lines.extend(f"PROBLEM: {p}" for p in problems)
    lines.append(f"creating a file in the work folder cost {creation_us} µs before the run")
    lines.append(f"the disk before the run (8 threads storing through Store.add, 5 s): "
                 f"{disk['per_s']}/s, p50 {disk['p50_ms']} ms, p99 {disk['p99_ms']} ms, "
                 f"stalls over 40 ms: {len(disk['stalls_over_40_ms'])} "
                 f"(longest {disk['max_ms']} ms)")
    section["problems"] = problems
    section["summary"] = lines
    report["intake"] = section
    forget_old_runs(work)
    if problems:
        raise RuntimeError("; ".join(problems))


if __name__ == "__main__":
    result: dict = {}
    run(result)
    print("\n".join(result["intake"]["summary"]))
