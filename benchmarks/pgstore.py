"""The PostgreSQL store's hot steps, one at a time: ``store.add()``, the flood count and
the duplicate claim with its entry (``Guard.add``), as one comment's intake makes them.

``python -m benchmarks.pgstore [--entries 2000] [--round-trip-check]`` starts a
throwaway cluster (``tests/pgcluster.py``, loopback, ``fsync=off``), makes the
schema, and times each step in one thread: median, p99 and the rate, per step.
``--round-trip-check`` checks every pooled connection with a round trip on each
checkout (psycopg_pool's ``check_connection``), for comparison with ours (a look
at the socket, a round trip only if the server said something).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _timed(step: Callable[[int], object], count: int) -> dict[str, float]:
    times = []
    for number in range(count):
        start = time.perf_counter()
        step(number)
        times.append(time.perf_counter() - start)
    times.sort()
    return {"median_us": round(statistics.median(times) * 1e6),
            "p99_us": round(times[int(len(times) * 0.99)] * 1e6),
            "per_second": round(count / sum(times))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--round-trip-check", action="store_true")
    args = parser.parse_args()
    from pgcluster import Cluster, find_bin
    from psycopg_pool import ConnectionPool

    from replik import pg
    from replik.pgstore import PgStore
    from replik.storespec import Entry, new_id

    bindir = find_bin()
    if bindir is None:
        sys.exit("PostgreSQL (initdb, pg_ctl) is not installed")
    if args.round_trip_check:
        pg._check = ConnectionPool.check_connection
    cluster = Cluster(bindir)
    try:
        cluster.start()
        url = cluster.create_database()
        pg.upgrade(url)
        db = pg.PgDatabase(url)
        store, guard = PgStore(db), pg.Guard(db)
        now = datetime.now(UTC)

        def entry(text: str) -> Entry:
            return Entry(id=new_id(), article="post", body=text, date=now, author="A",
                         email="a@example.org", ip="127.0.0.1")

        steps = {
            "add": lambda n: store.add(entry(f"text {n}")),
            "guard_add": lambda n: guard.add(store, entry(f"claimed {n}"), "pending"),
            "guard_add_taken": lambda n: guard.add(store, entry(f"claimed {n}"), "pending"),
            "flood": lambda n: guard.flood([f"ip:10.0.{n % 250}.1", "email:a@example.org"],
                                           10**9),
        }
        for name, step in steps.items():
            print(name, _timed(step, args.entries))
        db.close()
    finally:
        cluster.remove()


if __name__ == "__main__":
    main()
