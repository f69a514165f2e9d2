"""µs per feed entry: feedgen (``REPLIK_FEED_WRITER = "feedgen"``) against feedxml.

``python -m benchmarks.feedwriter [--feeds 1000] [--entries 16]`` builds that many
comment feed specs from realistic comment HTML (sitegen's texts through
render_body), writes each feed in both formats with either writer, and prints the
CPU time per entry (Atom and RSS together), best of ``--repeat`` runs. It also
checks that both writers gave the same bytes. Not part of ``make bench``: it runs
in a few seconds on one core.
"""

from __future__ import annotations

import argparse
import random
from datetime import timedelta

from benchmarks import sitegen
from benchmarks.measure import best_cpu_of
from replik.feeds import FeedItem, FeedSpec, feedgen_feeds, render_feeds
from replik.render import render_body


def make_specs(feeds: int, entries: int, seed: int = sitegen.DEFAULT_SEED) -> list[FeedSpec]:
    rng = random.Random(seed)
    # A pool of rendered bodies: rendering 16,000 would take longer than the writing.
    bodies = [str(render_body(sitegen._comment_body(rng, None))) for _ in range(300)]
    names = [sitegen._person(rng)[0] for _ in range(100)]
    start = sitegen._post_dates(rng, 1)[0]
    specs = []
    for n in range(feeds):
        base = f"https://example.org/posts/beitrag-{n}"
        items = []
        for k in range(entries):
            author = rng.choice(names)
            items.append(FeedItem(f"{base}.html#comment-{n}-{k}", f"{author} on Beitrag {n}",
                                  author, start + timedelta(minutes=k * 37 + n),
                                  rng.choice(bodies)))
        items.reverse()  # newest first, as make_spec gives them
        specs.append(FeedSpec(f"Comments on Beitrag {n}", "Comments on Dialogfeld", "de",
                              f"{base}.html", (f"{base}.atom.xml", f"{base}.rss.xml"),
                              items[0].date, tuple(items)))
    return specs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    specs = make_specs(args.feeds, args.entries)
    mismatches = sum(render_feeds(spec) != feedgen_feeds(spec) for spec in specs)
    entries = args.feeds * args.entries
    size = sum(len(b) for b in render_feeds(specs[0]).values()) / args.entries
    print(f"{args.feeds} feeds x {args.entries} entries, about {size:.0f} bytes an entry "
          f"(Atom + RSS); byte-identical: {'yes' if not mismatches else f'NO ({mismatches})'}")
    for name, write in (("feedgen", feedgen_feeds), ("feedxml", render_feeds)):
        seconds = best_cpu_of(write, specs, args.repeat)
        print(f"{name}: {seconds * 1e6 / entries:7.1f} µs/entry  ({seconds:.3f} s CPU)")


if __name__ == "__main__":
    main()
