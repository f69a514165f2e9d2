"""The approve-to-live benchmark: from the approve request to the page and feeds on disk.

On the generated site (1,000 posts, 20,000 comments by default, see ``sitegen``)
the moderation desk runs on a loopback port with its background rebuilder (the
``desk`` variant) or asking a ``replik worker`` process (``worker``). For
each round a new reader comment is filed as pending on a random post, a
logged-in moderator POSTs "approve" to the desk, and the clock runs until the
article page and its Atom and RSS comment feeds on disk hold the comment. A
burst of approvals in a row measures the batching. At the end a full Pelican
build into a second folder must equal the fast path's output byte for byte.

Run it alone with ``python -m benchmarks.approve --help``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from . import sitegen

TARGET_SECONDS = 1.0
AIM_SECONDS = 0.5
DEFAULT_WORKDIR = sitegen.PROJECT_ROOT / "bench-out"
HASH_ENV = "REPLIK_BENCH_PASSWORD_HASH"
PASSWORD = "bench-" + "x" * 20


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


class Desk:
    """The desk app on a loopback port, logged in as the benchmark's moderator."""

    def __init__(self, settings: Any) -> None:
        from werkzeug.serving import make_server

        from replik.server.app import create_app
        from replik.server.auth import make_hash

        os.environ[HASH_ENV] = make_hash(PASSWORD)
        os.environ.setdefault("REPLIK_SECRET_KEY", "bench-" + os.urandom(16).hex())
        self.app = create_app(settings=settings, REPLIK_MODERATORS={"bench": HASH_ENV},
                              REPLIK_PUBLISH_HOOK="")
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.server.server_port}",
                                   timeout=60)
        page = self.client.get("/moderate/login").text
        answer = self.client.post("/moderate/login", data={
            "csrf": self._csrf(page), "name": "bench", "password": PASSWORD})
        if answer.status_code != 302:
            raise RuntimeError(f"benchmark login failed ({answer.status_code})")
        self.csrf = self._csrf(self.client.get("/moderate/queue").text)

    @staticmethod
    def _csrf(html: str) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', html)
        if not match:
            raise RuntimeError("no CSRF token on the desk page")
        return match.group(1)

    def approve(self, entry_id: str) -> None:
        answer = self.client.post(f"/moderate/entry/{entry_id}/act",
                                  data={"csrf": self.csrf, "action": "approve"})
        if answer.status_code != 302:
            raise RuntimeError(f"approve failed ({answer.status_code})")

    def close(self) -> None:
        self.server.shutdown()
        self.app.extensions["replik_rebuilder"].stop()


def _wait_for(paths: list[Path], needle: bytes, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        try:
            if all(needle in p.read_bytes() for p in paths):
                return
        except FileNotFoundError:
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{needle!r} did not reach {paths} in {timeout} s")
        time.sleep(0.002)


def _wait_live(settings: Any, decided_at: float, timeout: float = 60.0) -> None:
    """Until a rebuild that started after ``decided_at`` has finished."""
    from replik.rebuild import is_live

    deadline = time.perf_counter() + timeout
    while not is_live(settings, decided_at):
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no rebuild finished after the decision in {timeout} s")
        time.sleep(0.005)


class WorkerProcess:
    """``replik worker`` on the benchmark site, in a process of its own."""

    def __init__(self, conf: Path) -> None:
        replik = Path(sys.executable).with_name("replik")
        self.process = subprocess.Popen([str(replik), "worker", "--settings", str(conf)],
                                        cwd=conf.parent, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)

    def close(self) -> None:
        self.process.terminate()  # SIGTERM: it finishes the job at hand
        self.process.wait(120)


def _approvals(settings: dict[str, Any], site: Any, *, worker: bool, rounds: int, burst: int,
               seed: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Approve ``rounds`` comments one by one, then ``burst`` at once, through the desk's
    own rebuilder or (``worker``) a ``replik worker`` process; the output's files."""
    from pelican.generators import ArticlesGenerator

    from replik.articles import read_content
    from replik.rebuild import is_live, read_status

    name = "worker" if worker else "desk"
    shutil.rmtree(settings.output_path, ignore_errors=True)
    started, wall = time.perf_counter(), time.time()
    desk = Desk(settings.replace(REPLIK_WORKER=worker))  # its login page starts the build
    background = WorkerProcess(site.conf) if worker else None
    try:
        while not is_live(settings, wall):
            error = read_status(settings).get("error")
            if error and read_status(settings).get("failed_at", 0) > wall:
                raise RuntimeError(f"the first build failed: {error}")
            time.sleep(0.05)
        warm_up = time.perf_counter() - started
        say(f"approve ({name}): first (full) build: {warm_up:.2f} s")
        [generator] = read_content(settings, ArticlesGenerator)
        by_slug = {a.slug: a for a in generator.articles}
        output = Path(settings.output_path)
        rng = random.Random(seed)
        slugs = [p.slug for p in site.posts if not p.closed and p.slug in by_slug]
        atom, rss = settings.feed_article, settings.feed_article_rss

        def targets(slug: str) -> list[Path]:
            return [output / by_slug[slug].save_as, output / atom.format(slug=slug),
                    output / rss.format(slug=slug)]

        times: list[float] = []
        offset = 2000 if worker else 0  # new comments, not the other variant's again
        for number in range(rounds):
            slug = rng.choice(slugs)
            entry = site.store.add(sitegen.new_comment(site, slug, seed=offset + number),
                                   "pending")
            begin, asked = time.perf_counter(), time.time()
            desk.approve(entry.id)
            _wait_for(targets(slug), entry.id.encode())
            times.append(time.perf_counter() - begin)
            _wait_live(settings, asked)  # the site-wide feed comes last
            say(f"approve ({name}): round {number + 1:2d} {slug[:40]:40s}"
                f" {times[-1] * 1000:7.1f} ms")

        chosen = [rng.choice(slugs) for _ in range(burst)]
        made = [site.store.add(sitegen.new_comment(site, slug, seed=offset + 1000 + i),
                               "pending") for i, slug in enumerate(chosen)]
        time.sleep(0.1)
        begin = time.perf_counter()
        for entry in made:
            desk.approve(entry.id)
        for entry, slug in zip(made, chosen, strict=True):
            _wait_for(targets(slug), entry.id.encode())
        burst_seconds = time.perf_counter() - begin
        say(f"approve ({name}): burst of {burst} approvals live after {burst_seconds:.2f} s")
        # The site-wide feed is written last: wait until it holds every approval (a
        # rebuild may start between the last approval and its answer, so "a rebuild
        # started after the last answer" may never come).
        latest = [output / settings.feed_latest, output / settings.feed_latest_rss]
        for entry in made:
            _wait_for(latest, entry.id.encode())
        files = _tree(output)
    finally:
        desk.close()
        if background is not None:
            background.close()
    stats = {"median": statistics.median(times), "min": min(times), "max": max(times),
             "p90": sorted(times)[max(0, -(-len(times) * 9 // 10) - 1)]}
    return {"seconds": [round(t, 4) for t in times], "stats": stats, "files": files,
            "burst_seconds": burst_seconds, "warm_up": warm_up}


def run(
    report: dict[str, Any], *, posts: int = 1000, comments: int = 20000, rounds: int = 15,
    burst: int = 10, workdir: Path | None = None, seed: int = sitegen.DEFAULT_SEED,
    variants: tuple[str, ...] = ("desk", "worker"),
    say: Callable[[str], None] = lambda line: print(line, flush=True),
) -> None:
    """Run the approve-to-live benchmark; results go under ``report["approve"]``:
    the desk's own rebuilder (``desk``) and a ``replik worker`` process (``worker``)."""
    from replik.settings import load_settings

    workdir = Path(workdir or DEFAULT_WORKDIR).resolve()  # the full build runs in the site
    site_dir = workdir / f"approve-site-{posts}-{comments}-{seed}"
    say(f"approve: generating (or reusing) {posts} posts / {comments} comments in {site_dir}")
    # A site of its own: the approvals below change its store.
    site = sitegen.ensure_site(site_dir, posts=posts, comments=comments, seed=seed)
    extra = site.store.root / "pending"
    for leftover in extra.glob("*.txt"):
        leftover.unlink()
    settings = load_settings(site.conf)
    results = {name: _approvals(settings, site, worker=name == "worker", rounds=rounds,
                                burst=burst, seed=seed, say=say) for name in variants}

    full_output = site.root / "output-full"
    shutil.rmtree(full_output, ignore_errors=True)
    begin = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pelican", str(site.content), "-o", str(full_output),
                    "-s", str(site.conf), "--fatal", "errors"], cwd=site.root, check=True,
                   capture_output=True)
    full_seconds = time.perf_counter() - begin
    full = _tree(full_output)
    fast = results[variants[-1]].pop("files")  # the last variant's output: every approval
    differing = sorted(name for name in set(fast) | set(full) if fast.get(name) != full.get(name))
    first = results[variants[0]]
    stats = first["stats"]
    section: dict[str, Any] = {
        "posts": posts, "comments": comments, "rounds": rounds, "variant": variants[0],
        "seconds": first["seconds"],
        "median_seconds": round(stats["median"], 4),
        "stats": {k: round(v, 4) for k, v in stats.items()},
        "target_seconds": TARGET_SECONDS, "aim_seconds": AIM_SECONDS,
        "meets_target": stats["median"] <= TARGET_SECONDS,
        "meets_aim": stats["median"] <= AIM_SECONDS,
        "burst": {"approvals": burst, "seconds": round(first["burst_seconds"], 3)},
        "first_build_seconds": round(first["warm_up"], 2),
        "full_build_seconds": round(full_seconds, 2),
        "identical_to_full_build": not differing,
        "differing_files": differing[:20],
        "summary": [],
    }
    for name, result in results.items():
        result.pop("files", None)
        median = result["stats"]["median"]
        section[name] = {
            "median_seconds": round(median, 4), "seconds": result["seconds"],
            "stats": {k: round(v, 4) for k, v in result["stats"].items()},
            "burst_seconds": round(result["burst_seconds"], 3),
            "first_build_seconds": round(result["warm_up"], 2),
            "meets_target": median <= TARGET_SECONDS}
        how = "a `replik worker` process" if name == "worker" else "the desk's own thread"
        section["summary"] += [
            f"approve → page and feeds on disk, through {how}: median {median * 1000:.0f} ms"
            f" over {rounds} approvals (target {TARGET_SECONDS * 1000:.0f} ms,"
            f" aim {AIM_SECONDS * 1000:.0f} ms):"
            f" {'met' if median <= TARGET_SECONDS else 'MISSED'}",
            f"  burst of {burst} approvals: all live after {result['burst_seconds']:.2f} s"]
    section["summary"] += [
        f"full Pelican build of the same site: {full_seconds:.2f} s (subprocess)",
        "fast path output identical to a full build: "
        + ("yes" if not differing else f"NO ({len(differing)} files differ)"),
    ]
    report["approve"] = section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.approve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--comments", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--variant", choices=("desk", "worker", "both"), default="both",
                        help="rebuild in the desk's thread, in `replik worker`, or both")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    run(report, posts=args.posts, comments=args.comments, rounds=args.rounds, burst=args.burst,
        workdir=args.workdir,
        variants=("desk", "worker") if args.variant == "both" else (args.variant,))
    print("\n".join(report["approve"]["summary"]))
    return 0 if report["approve"]["identical_to_full_build"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
