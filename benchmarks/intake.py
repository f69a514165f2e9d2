"""Comment intake throughput and latency: Replik against Isso 0.14 (``POST /new``).

Both run under gunicorn with the same flags (2 workers, gthread) and get the same
load from the same client: 32 concurrent clients, each POSTing new comments on
its own keep-alive connection. Replik runs with its spam rules on (flood control
counting, duplicate detection, link hold, honeypot) and Akismet replaced by the
package's ``TestSyncClient``; Isso runs with moderation on and its guard on (rate
limits raised so it accepts the load). Isso lives in its own environment,
``bench-out/isso-venv`` (created with ``pip install isso==0.14.0 gunicorn`` on
first use).

Settings (environment): ``BENCH_INTAKE_REQUESTS`` (default 3000 per server),
``BENCH_INTAKE_CLIENTS`` (32), ``BENCH_INTAKE_WORKERS`` (2), ``BENCH_INTAKE_THREADS``
(8 per worker), ``BENCH_INTAKE_ROUNDS`` (3: the servers take turns, so both see
the same machine conditions).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

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


# -- the one load client ---------------------------------------------------------------


def load(port: int, make_request: Any, total: int, clients: int) -> dict[str, Any]:
    """POST ``total`` requests from ``clients`` threads; latency of each in ms."""
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
            path, body, headers = make_request(number)
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
    ordered = sorted(latencies)

    def percentile(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 2)

    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    return {
        "raw_latencies": latencies,
        "requests": total,
        "ok": ok,
        "statuses": statuses,
        "seconds": round(seconds, 2),
        "throughput_per_s": round(ok / seconds, 1),
        "latency_ms": {
            "mean": round(statistics.fmean(ordered), 2), "p50": percentile(0.50),
            "p95": percentile(0.95), "p99": percentile(0.99), "max": round(ordered[-1], 2),
        },
    }


def gunicorn_argv(gunicorn: Path, app: str, port: int) -> list[str]:
    return [str(gunicorn), "--workers", str(_env_int("BENCH_INTAKE_WORKERS", 2)),
            "--worker-class", "gthread", "--threads", str(_env_int("BENCH_INTAKE_THREADS", 8)),
            "--bind", f"127.0.0.1:{port}", "--backlog", "512", "--keep-alive", "30",
            "--log-level", "warning", app]


@dataclass
class Server:
    """One gunicorn under test: how to start it and what to POST to it."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    make_request: Any
    log: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "wb") as log_file:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=log_file,
                                            stderr=subprocess.STDOUT)
        wait_for(self.port, self.ready_path, self.process)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Several rounds as one result: all requests, all latencies."""
    latencies = sorted(x for r in rounds for x in r["raw_latencies"])
    statuses: dict[str, int] = {}
    for r in rounds:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    ok = sum(r["ok"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)

    def percentile(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))], 2)

    return {
        "requests": sum(r["requests"] for r in rounds), "ok": ok, "statuses": statuses,
        "seconds": round(seconds, 2), "throughput_per_s": round(ok / seconds, 1),
        "rounds_throughput_per_s": [r["throughput_per_s"] for r in rounds],
        "latency_ms": {
            "mean": round(statistics.fmean(latencies), 2), "p50": percentile(0.50),
            "p95": percentile(0.95), "p99": percentile(0.99), "max": round(latencies[-1], 2),
        },
    }


def compare(servers: list[Server]) -> dict[str, dict[str, Any]]:
    """Start all servers, then load them in alternating rounds (same machine conditions)."""
    total = _env_int("BENCH_INTAKE_REQUESTS", 3000)
    clients = _env_int("BENCH_INTAKE_CLIENTS", 32)
    rounds = max(1, _env_int("BENCH_INTAKE_ROUNDS", 3))
    per_round = max(1, total // rounds)
    results: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    alone: dict[str, dict[str, Any]] = {}
    try:
        for server in servers:
            server.start()
            # Warm-up: imports, first connections, caches (not measured).
            load(server.port, lambda n, s=server: s.make_request(10_000_000 + n), 200, clients)
        for number in range(rounds):
            for server in servers:
                offset = number * per_round
                results[server.name].append(load(
                    server.port, lambda n, s=server, o=offset: s.make_request(o + n),
                    per_round, clients))
        for server in servers:
            # One reader alone: the latency without queueing behind 31 others.
            alone[server.name] = load(
                server.port, lambda n, s=server: s.make_request(20_000_000 + n), 300, 1)
    finally:
        for server in servers:
            server.stop()
    combined = {}
    for server in servers:
        combined[server.name] = combine(results[server.name])
        combined[server.name]["single_client_latency_ms"] = alone[server.name]["latency_ms"]
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


def replik_server(folder: Path) -> Server:
    conf = replik_site(folder)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON_AKISMET_", "REPLIK_SMTP_"))}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    argv = gunicorn_argv(gunicorn, f"replik.server.app:create_app({str(conf)!r})", port)

    def make_request(number: int) -> tuple[str, str, dict[str, str]]:
        body = json.dumps({
            "article": "bench", "author": "Leserin", "email": "leserin@example.org",
            "consent": "yes", "body": f"Kommentar {number}: Ein ganz normaler Beitrag.",
        })
        return "/replik/comment", body, {
            "Content-Type": "application/json", "Accept": "application/json",
            "Origin": "http://127.0.0.1:8000", "User-Agent": "bench"}

    return Server("replik", argv, env, port, "/replik/thanks", make_request,
                  folder / "gunicorn.log")


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

    def make_request(number: int) -> tuple[str, str, dict[str, str]]:
        body = json.dumps({"text": f"Kommentar {number}: Ein ganz normaler Beitrag.",
                           "author": "Leserin", "email": "leserin@example.org",
                           "website": None})
        return "/new?" + urlencode({"uri": "/bench/"}), body, {
            "Content-Type": "application/json", "Origin": host, "User-Agent": "bench"}

    return Server("isso", argv, env, port, "/info", make_request, folder / "gunicorn.log")


# -- the report ----------------------------------------------------------------------------


def run(report: dict) -> None:
    work = OUT / "intake"
    shutil.rmtree(work, ignore_errors=True)
    servers = [replik_server(work / "replik")]
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
    finally:
        pages.shutdown()
    replik = results["replik"]
    replik["stored"] = sum(1 for _ in (work / "replik" / "comments").rglob("*.txt"))
    section: dict[str, Any] = {
        "clients": _env_int("BENCH_INTAKE_CLIENTS", 32),
        "workers": _env_int("BENCH_INTAKE_WORKERS", 2),
        "threads_per_worker": _env_int("BENCH_INTAKE_THREADS", 8),
        "load_average_after": os.getloadavg()[0],
        "replik": replik,
    }
    lines = [
        f"Replik: {replik['throughput_per_s']} comments/s, p99 {replik['latency_ms']['p99']} ms"
        f" ({replik['ok']}/{replik['requests']} ok, {replik['stored']} stored);"
        f" one client alone: p99 {replik['single_client_latency_ms']['p99']} ms",
    ]
    if "isso" in results:
        isso = results["isso"]
        section["isso"] = isso
        ratio = round(replik["throughput_per_s"] / isso["throughput_per_s"], 2)
        section["throughput_ratio"] = ratio
        lines.append(f"Isso {ISSO_VERSION}: {isso['throughput_per_s']} comments/s, p99 "
                     f"{isso['latency_ms']['p99']} ms ({isso['ok']}/{isso['requests']} ok);"
                     f" one client alone: p99 {isso['single_client_latency_ms']['p99']} ms")
        lines.append(f"Replik/Isso throughput: {ratio}× (target ≥ 2×); "
                     f"Replik p99 target ≤ 50 ms: "
                     f"{'met' if replik['latency_ms']['p99'] <= 50 else 'missed'}")
    else:
        section["isso"] = {"error": isso_problem}
        lines.append(isso_problem)
    section["summary"] = lines
    report["intake"] = section


if __name__ == "__main__":
    result: dict = {}
    run(result)
    print("\n".join(result["intake"]["summary"]))
