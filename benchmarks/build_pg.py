"""The build from PostgreSQL against the build from files, side by side.

The build benchmark's generated site (1,000 posts, 20,000 approved comments by
default, see ``sitegen``) is copied into a throwaway PostgreSQL cluster
(``tests/pgcluster.py``: initdb and pg_ctl in a temporary folder, a loopback port,
removed afterwards) through the store contract. Then, in fresh processes and
alternating, the same Pelican build reads its comments from ``comments/``
(``files``) or, with ``REPLIK_DATABASE_URL`` set, from the database
(``postgres``): each cold (an empty thread cache) and then warm (the cache the
cold build left). The last round's outputs must be equal byte for byte.
Target (issue 16): the build from PostgreSQL ≤ ×1.1 the build from files, in CPU
time of the Pelican process; the database server's CPU time during each build
(its postmaster and the backends it reaped, from /proc) is reported beside it.

Run it alone with ``python -m benchmarks.build_pg --help``; it needs PostgreSQL
(Debian's ``postgresql`` package).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from replik import pg
from replik.pgstore import PgStore

from . import sitegen
from .build import DEFAULT_WORKDIR, new_output, pelican_argv
from .measure import Measurement, run_measured, summarize

TARGET_RATIO = 1.1
DEFAULT_RUNS = 3
VARIANTS = ("files-cold", "postgres-cold", "files-warm", "postgres-warm")
sys.path.insert(0, str(sitegen.PROJECT_ROOT / "tests"))


def copy_into(site: sitegen.Site, url: str, batch: int = 2000) -> int:
    """Every entry of the site's file store into the (upgraded) database at ``url``."""
    pg.upgrade(url)
    db = pg.PgDatabase(url)
    try:
        store, count, items = PgStore(db), 0, []
        for entry in site.store.all_entries(on_error="raise"):
            items.append((entry, entry.state))
            if len(items) == batch:
                count += len(items) - len(store.add_many(items))
                items = []
        count += len(items) - len(store.add_many(items))
        db.execute("ANALYZE")
        return count
    finally:
        db.close()


def server_cpu(cluster: Any) -> float:
    """CPU seconds the database server has used so far: its postmaster and every
    backend it has reaped (a build's connections end with the build)."""
    pid = (cluster.data / "postmaster.pid").read_text().split()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def build_once(site: sitegen.Site, variant: str, url: str, caches: dict[str, Path],
               log_dir: Path) -> tuple[Measurement, Path]:
    """One build of ``variant`` in a fresh process; its measurement and output."""
    source, temperature = variant.split("-")
    if temperature == "cold":  # a new, empty cache folder (see build.new_output)
        caches[source] = new_output(site, f"cache-{source}")
    output = new_output(site, variant)
    argv = pelican_argv(site, site.conf, output)
    argv += ["-e", f"REPLIK_CACHE={json.dumps(str(caches[source]))}"]
    env = {key: value for key, value in os.environ.items() if key != "REPLIK_DATABASE_URL"}
    if source == "postgres":
        env["REPLIK_DATABASE_URL"] = url
    log = log_dir / f"build_pg-{variant}.log"
    result = run_measured(argv, site.root, log, env)
    if result.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"the {variant} build failed (exit {result.returncode}):\n{tail}")
    return result, output


def differences(one: Path, two: Path) -> list[str]:
    """The files that differ (or exist on one side only) between two output folders."""
    found: list[str] = []

    def walk(compared: filecmp.dircmp[str], prefix: str) -> None:
        found.extend(prefix + name for name in compared.left_only + compared.right_only)
        _same, diff, errors = filecmp.cmpfiles(compared.left, compared.right,
                                               compared.common_files, shallow=False)
        found.extend(prefix + name for name in diff + errors)
        for name, sub in compared.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(one, two), "")
    return found


def run(report: dict[str, Any], *, posts: int = 1000, comments: int = 20000,
        runs: int = DEFAULT_RUNS, workdir: Path | None = None,
        seed: int = sitegen.DEFAULT_SEED, say: Callable[[str], None] = print) -> None:
    """Run the benchmark and store its results under ``report["build_pg"]``."""
    from pgcluster import Cluster, find_bin

    bindir = find_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL (initdb, pg_ctl) is not installed")
    workdir = Path(workdir or DEFAULT_WORKDIR).resolve()
    site = sitegen.ensure_site(workdir / f"site-{posts}-{comments}-{seed}", posts=posts,
                               comments=comments, seed=seed)
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(bindir)
    caches: dict[str, Path] = {}
    outputs: dict[str, Path] = {}
    try:
        cluster.start()
        url = cluster.create_database()
        say(f"build_pg: copying the store of {site.root} into PostgreSQL")
        copied = copy_into(site, url)
        cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
        wall: dict[str, list[float]] = {name: [] for name in VARIANTS}
        memory: dict[str, list[float]] = {name: [] for name in VARIANTS}
        server: dict[str, list[float]] = {name: [] for name in VARIANTS}
        load = [os.getloadavg()[0]]
        for number in range(1, runs + 1):
            for variant in VARIANTS:
                before = server_cpu(cluster)
                result, outputs[variant] = build_once(site, variant, url, caches, logs)
                server[variant].append(server_cpu(cluster) - before)
                cpu[variant].append(result.cpu_seconds)
                wall[variant].append(result.seconds)
                memory[variant].append(result.peak_rss_mb)
                say(f"build_pg: round {number} {variant:14s} {result.seconds:7.2f} s wall"
                    f" {result.cpu_seconds:7.2f} s CPU {result.peak_rss_mb:7.1f} MB"
                    f" (database server {server[variant][-1]:.2f} s CPU)")
            load.append(os.getloadavg()[0])
        different = {temperature: differences(outputs[f"files-{temperature}"],
                                              outputs[f"postgres-{temperature}"])
                     for temperature in ("cold", "warm")}
    finally:
        cluster.remove()
        for folder in (*outputs.values(), *caches.values()):
            shutil.rmtree(folder, ignore_errors=True)
    ratios = {temperature: round(summarize(cpu[f"postgres-{temperature}"])["median"]
                                 / summarize(cpu[f"files-{temperature}"])["median"], 3)
              for temperature in ("cold", "warm")}
    section: dict[str, Any] = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "site": {"posts": posts, "comments": site.total_comments, "entries_copied": copied},
        "runs": runs,
        "load_average": [round(value, 1) for value in load],
        "cpu_seconds": {name: summarize(values) for name, values in cpu.items()},
        "time_seconds": {name: summarize(values) for name, values in wall.items()},
        "peak_rss_mb": {name: summarize(values) for name, values in memory.items()},
        "database_server_cpu_seconds": {name: summarize(values)
                                        for name, values in server.items()},
        "cpu_ratio_postgres_to_files": ratios,
        "different_files": {key: value[:20] for key, value in different.items()},
        "target": TARGET_RATIO,
    }
    section["meets_target"] = (ratios["cold"] <= TARGET_RATIO and ratios["warm"] <= TARGET_RATIO
                               and not any(different.values()))
    section["summary"] = summary_lines(section)
    report["build_pg"] = section


def summary_lines(section: dict[str, Any]) -> list[str]:
    lines = [f"site: {section['site']['posts']} posts, {section['site']['comments']} approved"
             f" comments, {section['runs']} rounds, medians; load average"
             f" {' → '.join(str(x) for x in section['load_average'])}"]
    for name in VARIANTS:
        lines.append(f"{name:14s} {section['time_seconds'][name]['median']:7.2f} s wall"
                     f" {section['cpu_seconds'][name]['median']:7.2f} s CPU"
                     f" {section['peak_rss_mb'][name]['median']:7.1f} MB, database server"
                     f" {section['database_server_cpu_seconds'][name]['median']:.2f} s CPU")
    ratios = section["cpu_ratio_postgres_to_files"]
    lines.append(f"CPU postgres/files: cold ×{ratios['cold']:.3f}, warm ×{ratios['warm']:.3f}"
                 f" (target ≤ ×{section['target']})")
    for temperature, files in section["different_files"].items():
        lines.append(f"output {temperature}: " + (f"{len(files)} files differ: {files}"
                                                  if files else "identical byte for byte"))
    lines.append(f"target: {'met' if section['meets_target'] else 'NOT met'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    from .__main__ import merge_report

    parser = argparse.ArgumentParser(prog="python -m benchmarks.build_pg", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--comments", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--seed", type=int, default=sitegen.DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_WORKDIR,
                        help="work folder and report location (default: bench-out/)")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    run(report, posts=args.posts, comments=args.comments, runs=args.runs, workdir=args.out,
        seed=args.seed)
    print("\n".join(report["build_pg"]["summary"]))
    merge_report(args.out / "report.json", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
