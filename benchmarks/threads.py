"""CPU time to read and build every thread of the build benchmark's site, with and
without the thread cache.

``python -m benchmarks.threads [--rounds 5]`` uses (or generates) the site of
``python -m benchmarks build`` and runs, in one process and alternating, what a
build does for comments outside the templates and feeds: read the store, build
each thread, release it. Three ways: ``no cache`` (``REPLIK_CACHE = ""``: each
thread's texts read again and rendered while it is built), ``cold`` (an empty
thread cache: texts rendered as each thread is built and kept in the cache,
which is written), ``warm`` (the cache the cold run left). Prints the median and least
CPU seconds of each. Not part of ``make bench``: it runs in about 15 s.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import sitegen
from benchmarks.build import DEFAULT_WORKDIR
from replik.storespec import CommentStore
from replik.thread import LazyThread
from replik.thread_cache import ThreadCache


def read_and_build(store: CommentStore, cache_folder: Path | None) -> ThreadCache | None:
    """What attach_comments and the page writing do with the threads (no templates)."""
    cache = ThreadCache.load(cache_folder) if cache_folder is not None else None
    grouped = (cache.read(store) if cache is not None
               else store.approved_by_article(public_only=True, bodies=False))
    for slug, entries in grouped.items():
        thread = LazyThread(entries, 5, "de", "Europe/Berlin", store=store, cache=cache,
                            slug=slug)
        thread.build()
        thread.release()
    if cache is not None:
        cache.finish()
    return cache


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    site = sitegen.ensure_site(DEFAULT_WORKDIR / f"site-1000-20000-{sitegen.DEFAULT_SEED}")
    times: dict[str, list[float]] = {"no cache": [], "cold": [], "warm": []}
    with tempfile.TemporaryDirectory(dir=DEFAULT_WORKDIR) as scratch:
        reused = 0
        for number in range(args.rounds):
            # A new folder for each cold run, the old ones deleted only at the end: on
            # ext4, files made right after many were deleted cost several times more.
            folder = Path(scratch) / f"threads-{number}"
            for way in times:
                gc.collect()
                start = time.process_time()
                cache = read_and_build(site.store, None if way == "no cache" else folder)
                times[way].append(time.process_time() - start)
                if way == "warm" and cache is not None:
                    reused = cache.reused
    comments = sum(1 for _ in site.store.entries("approved"))
    print(f"{comments} comments in {reused} threads reused by the warm runs")
    for way, seconds in times.items():
        print(f"{way:9s} median {statistics.median(seconds):.3f} s, least {min(seconds):.3f} s"
              f" CPU ({statistics.median(seconds) * 1e6 / comments:.1f} µs a comment)")


if __name__ == "__main__":
    main()
