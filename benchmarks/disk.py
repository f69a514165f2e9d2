"""The disk under the intake: how long the file store's own writes wait for it.

Threads store new comments through ``Store.add`` (written to ``tmp/``, fsync'd,
linked into ``pending/``, the folder fsync'd: the intake's path without the app)
for a while; the report gives entries/s, the latency distribution and every stall
over 40 ms. A stall is a flush the device holds back; while it lasts every
request in flight waits, whatever the app does, so it sets the intake's p99
(docs/benchmarks.md, "Why the misses"). The intake benchmark runs it for 5 s
before its rounds and reports it beside them.

    python -m benchmarks.disk [--threads 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from replik.store import Entry, Store, new_id

STALL_MS = 40.0


def measure(folder: Path, threads: int, seconds: float) -> dict[str, object]:
    store = Store(folder / "comments")
    latencies: list[float] = []
    stalls: list[tuple[float, float]] = []  # (seconds into the run, ms)
    lock = threading.Lock()
    started = time.monotonic()

    def writer(number: int) -> None:
        count = 0
        while time.monotonic() - started < seconds:
            count += 1
            entry = Entry(id=new_id(), article="disk", date=datetime.now(UTC),
                          author="Leserin", body=f"Kommentar {number}-{count}")
            begin = time.perf_counter()
            store.add(entry, fresh=True)
            elapsed = (time.perf_counter() - begin) * 1000
            with lock:
                latencies.append(elapsed)
                if elapsed > STALL_MS:
                    stalls.append((round(time.monotonic() - started, 2), round(elapsed, 1)))

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ordered = sorted(latencies)
    return {
        "threads": threads, "entries": len(ordered),
        "per_s": round(len(ordered) / seconds),
        "p50_ms": round(ordered[len(ordered) // 2], 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)], 2),
        "max_ms": round(ordered[-1], 2),
        "stalls_over_40_ms": stalls,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    from .intake import work_folder  # intake imports this module

    result = measure(work_folder(), args.threads, args.seconds)
    stalls = result.pop("stalls_over_40_ms")
    print(", ".join(f"{key} {value}" for key, value in result.items()))
    print(f"stalls over {STALL_MS:g} ms (s into the run, ms): {stalls or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
