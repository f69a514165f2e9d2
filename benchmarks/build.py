"""The build benchmark: our Pelican build with every comment against plain Pelican.

A generated site (1,000 posts, 20,000 approved comments by default, see
``sitegen``) is built in fresh processes, alternating:

* ``plain`` — the same posts with plain Pelican: no plugins, no comments;
* ``replik-cold`` — our settings, theme and plugins, without any cache;
* ``replik-warm`` — the same again keeping the caches of the cold build (the
  thread cache in ``REPLIK_CACHE``), into a new output folder;
* ``replik-incremental`` — the same again keeping the cache and the output of the
  previous build, as a second ``make html`` does (unchanged feeds are not rewritten).

Each build's wall time and peak RSS are measured; the medians and the ratios
to plain Pelican go into the report. Every comment is then checked to be on
its article's page and in its comment feed.

Run it alone with ``python -m benchmarks.build --help``.
"""

from __future__ import annotations

import argparse
import html
import os
import pstats
import re
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pelican

from replik.settings import Settings

from . import sitegen
from .measure import Measurement, file_creation_us, run_measured, summarize

TARGET_TIME_RATIO = 1.5
#: The benchmark site uses the project's settings, which keep this default.
FEED_COUNT = Settings().feed_article_count
AIM_TIME_RATIO = 1.3
TARGET_MEMORY_RATIO = 1.5
DEFAULT_WORKDIR = sitegen.PROJECT_ROOT / "bench-out"


# Plain Pelican's own default theme, for when ours does not render without our plugin.
PELICAN_THEME = Path(pelican.__file__).parent / "themes" / "notmyidea"


def pelican_argv(site: sitegen.Site, conf: Path, output: Path, theme: Path | None = None
                 ) -> list[str]:
    argv = [
        sys.executable, "-m", "pelican", str(site.content), "-o", str(output),
        "-s", str(conf), "--fatal", "errors", "--log-handler", "plain",
    ]
    if theme:  # Pelican's own theme has no 404.html, which the project's settings build
        argv += ["-t", str(theme), "-e",
                 'DIRECT_TEMPLATES=["index", "tags", "categories", "authors", "archives"]']
    return argv


#: The output folder each kind of build wrote last (the incremental build reuses ours).
_outputs: dict[str, Path] = {}


def new_output(site: sitegen.Site, kind: str) -> Path:
    """A folder never used before for a build's output.

    An emptied folder is not the same: on ext4, files created soon after many were
    deleted cost several times more kernel time (seen here: 0.5-0.9 ms instead of
    20-60 µs a file), which would charge a build for the previous build's clean-up.
    Old outputs are deleted after the measurements (``clear_outputs``).
    """
    runs = site.root / "runs"
    runs.mkdir(exist_ok=True)
    number = sum(1 for _ in runs.iterdir())
    while (runs / f"{kind}-{number}").exists():
        number += 1
    folder = runs / f"{kind}-{number}"
    _outputs[kind] = folder
    return folder


def clear_outputs(site: sitegen.Site, keep: set[Path]) -> None:
    runs = site.root / "runs"
    for folder in runs.iterdir() if runs.is_dir() else ():
        if folder not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def build_once(site: sitegen.Site, variant: str, log_dir: Path, plain_theme: Path | None = None
               ) -> Measurement:
    """One build of ``variant`` (see the module's doc) in a fresh process."""
    kind = "plain" if variant == "plain" else "replik"
    if variant == "replik-incremental" and kind in _outputs:
        output = _outputs[kind]  # a second `make html`: the previous output is kept
    else:
        output = new_output(site, kind)
    if variant == "replik-cold":
        # Moved aside, not deleted (see new_output): the cache's files are new ones.
        cache = site.root / ".replik-cache"
        if cache.exists():
            cache.rename(new_output(site, "old-cache"))
            _outputs.pop("old-cache")
    conf = site.plain_conf if variant == "plain" else site.conf
    theme = plain_theme if variant == "plain" else None
    log = log_dir / f"{variant}.log"
    result = run_measured(pelican_argv(site, conf, output, theme), site.root, log)
    if result.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"the {variant} build failed (exit {result.returncode}):\n{tail}")
    return result


def choose_plain_theme(site: sitegen.Site, log_dir: Path) -> tuple[Path | None, str]:
    """Our theme for plain Pelican if it renders without our plugin, else Pelican's own."""
    try:
        build_once(site, "plain", log_dir)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1][:200]
        build_once(site, "plain", log_dir, PELICAN_THEME)
        return PELICAN_THEME, f"our theme fails without the plugin: {reason}"
    return None, "our theme renders without the plugin"


def has_cache(site: sitegen.Site) -> bool:
    cache = site.root / ".replik-cache"
    return cache.is_dir() and any(cache.iterdir())


# --- checking the output ---------------------------------------------------------
def _pages_by_slug(output: Path) -> dict[str, Path]:
    pages: dict[str, Path] = {}
    for path in output.rglob("*.html"):
        key = path.parent.name if path.name == "index.html" else path.stem
        pages.setdefault(key, path)
    return pages


def check_output(site: sitegen.Site, output: Path, with_comments: bool) -> dict[str, Any]:
    """Count posts and comments that made it into the built pages and feeds."""
    pages = _pages_by_slug(output)
    store = site.store
    found_posts = 0
    on_pages = 0
    in_feeds = 0
    expected = 0
    expected_in_feeds = 0
    missing: list[str] = []
    anchor = re.compile(r'id="comment-([0-9]{8}T[0-9]{12}Z-[0-9a-f]{8})"')
    for post in site.posts:
        page = pages.get(post.slug)
        if page is None:
            missing.append(f"no page for post {post.slug}")
            continue
        found_posts += 1
        text = page.read_text(encoding="utf-8")
        if not with_comments:
            on_pages += len(anchor.findall(text))
            continue
        approved = list(store.entries("approved", post.slug))
        ids = {e.id for e in approved}
        # An article's comment feed holds its newest REPLIK_FEED_ARTICLE_COUNT entries.
        newest = sorted(approved, key=lambda e: (e.date, e.id), reverse=True)
        in_feed = {e.id for e in (newest[:FEED_COUNT] if FEED_COUNT else newest)}
        expected_in_feeds += len(in_feed)
        expected += len(ids)
        shown = set(anchor.findall(text))
        on_pages += len(ids & shown)
        if ids - shown:
            missing.append(f"{len(ids - shown)} comments missing on {page}")
        feed = output / "feeds" / "comments" / f"{post.slug}.atom.xml"
        if feed.is_file():
            body = html.unescape(feed.read_text(encoding="utf-8"))
            in_feeds += sum(1 for i in in_feed if f"#comment-{i}" in body)
        elif ids:
            missing.append(f"no comment feed {feed}")
    return {
        "posts_expected": len(site.posts), "posts_built": found_posts,
        "comments_expected": expected, "comments_on_pages": on_pages,
        "comments_in_feeds": in_feeds, "comments_expected_in_feeds": expected_in_feeds,
        "problems": missing[:10],
        "problem_count": len(missing),
    }


# --- profiling ---------------------------------------------------------------------
# Pieces of the build whose cumulative time is reported (file name part, function).
PROFILE_PIECES: list[tuple[str, str, str]] = [
    ("pelican: read + parse posts (Markdown)", "pelican/readers.py", "read_file"),
    ("pelican: write all pages (Jinja)", "pelican/writers.py", "write_file"),
    ("pelican: post feeds", "pelican/writers.py", "write_feed"),
    ("replik: attach_comments (signal)", "replik/generators.py", "attach_comments"),
    ("replik:   store.approved_by_article", "replik/store.py", "approved_by_article"),
    ("replik:   build_thread", "replik/thread.py", "build_thread"),
    ("replik:     render_body (Markdown+nh3)", "replik/render.py", "render_body"),
    ("replik:       nh3 sanitize", "replik/render.py", "sanitize"),
    ("replik:     render_excerpt", "replik/render.py", "render_excerpt"),
    ("replik:     format_datetime_local", "replik/render.py", "format_datetime_local"),
    ("replik:   Entry.public()", "replik/store.py", "public"),
    ("replik: comment feeds, each after its page", "replik/writers.py", "write_article"),
    ("replik:   serialize (feedxml)", "replik/feedxml.py", "render"),
    ("replik:   feed specs", "replik/feeds.py", "article_spec"),
    ("replik:   write feed files", "replik/writers.py", "atomic_write"),
    ("replik: CommentNode.__getattr__ (templates)", "replik/thread.py", "__getattr__"),
]


def profile_build(site: sitegen.Site, conf: Path, output: Path, target: Path,
                  theme: Path | None = None) -> dict[str, Any]:
    """Build once under cProfile (in a fresh process) and break the time down."""
    shutil.rmtree(output, ignore_errors=True)
    shutil.rmtree(site.root / ".replik-cache", ignore_errors=True)
    pelican_args = pelican_argv(site, conf, output, theme)[1:]
    argv = [sys.executable, "-m", "cProfile", "-o", str(target), *pelican_args]
    log = target.with_suffix(".log")
    result = run_measured(argv, site.root, log)
    # cProfile swallows the SystemExit of a failed build: look for Pelican's last word.
    if result.returncode != 0 or "Done: Processed" not in log.read_text(errors="replace"):
        raise RuntimeError(f"the profiled build failed; see {log}")
    return profile_breakdown(target)


def profile_breakdown(path: Path) -> dict[str, Any]:
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = max(ct for (_cc, _nc, _tt, ct, _callers) in raw.values())
    pieces: dict[str, dict[str, float]] = {}
    for label, file_part, func in PROFILE_PIECES:
        cum = 0.0
        calls = 0
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in raw.items():
            if name == func and filename.replace(os.sep, "/").endswith(file_part):
                cum += ct
                calls += nc
        if calls:
            pieces[label] = {"seconds": round(cum, 3), "share": round(cum / total, 3),
                             "calls": calls}
    own: list[tuple[float, str]] = []
    for (filename, line, name), (_cc, _nc, tt, _ct, _callers) in raw.items():
        own.append((tt, f"{Path(filename).name}:{line}({name})"))
    own.sort(reverse=True)
    return {
        "profile": str(path), "total_seconds": round(total, 3), "pieces": pieces,
        "top_own_time": [{"function": f, "seconds": round(t, 3)} for t, f in own[:15]],
    }


# --- the benchmark -------------------------------------------------------------------
#: Rounds per variant. On a shared machine one build's CPU time moves by ±10 %; the
#: median of five keeps the ratio within a few hundredths from run to run.
DEFAULT_RUNS = 5


def run(
    report: dict[str, Any], *, posts: int = 1000, comments: int = 20000,
    runs: int = DEFAULT_RUNS,
    workdir: Path | None = None, seed: int = sitegen.DEFAULT_SEED, profile: bool = False,
    say: Callable[[str], None] = print,
) -> None:
    """Run the build benchmark and store its results under ``report["build"]``."""
    workdir = Path(workdir or DEFAULT_WORKDIR).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    site_dir = workdir / f"site-{posts}-{comments}-{seed}"
    say(f"build: generating (or reusing) {posts} posts / {comments} comments in {site_dir}")
    site = sitegen.ensure_site(site_dir, posts=posts, comments=comments, seed=seed)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)

    # An untimed first build (also warming the file cache) decides the baseline's theme.
    plain_theme, theme_note = choose_plain_theme(site, logs)
    say(f"build: plain Pelican uses {plain_theme or 'our theme'} ({theme_note})")
    names = ("plain", "replik-cold", "replik-warm", "replik-incremental")
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    memory: dict[str, list[float]] = {name: [] for name in names}
    system: dict[str, list[float]] = {name: [] for name in names}

    def record(variant: str, result: Measurement) -> None:
        times[variant].append(result.seconds)
        cpu[variant].append(result.cpu_seconds)
        memory[variant].append(result.peak_rss_mb)
        system[variant].append(result.system_seconds)  # the kernel's part: file creation
        say(f"build: round {round_number} {variant:18s} {result.seconds:7.2f} s wall"
            f" {result.cpu_seconds:7.2f} s CPU ({result.system_seconds:.2f} s system)"
            f" {result.peak_rss_mb:7.1f} MB")

    creation_before = file_creation_us(new_output(site, "probe"))
    _outputs.pop("probe")
    warm = False
    for round_number in range(1, runs + 1):
        for variant in ("plain", "replik-cold"):
            record(variant, build_once(site, variant, logs, plain_theme))
        if round_number == 1:
            warm = has_cache(site)  # the warm build means something only with a cache
        # A second `make html` into the same output, with the caches (if any) kept.
        for variant in ("replik-warm", "replik-incremental") if warm else ("replik-incremental",):
            record(variant, build_once(site, variant, logs))

    creation_after = file_creation_us(new_output(site, "probe"))
    _outputs.pop("probe")
    checks = {
        "replik": check_output(site, _outputs["replik"], with_comments=True),
        "plain": check_output(site, _outputs["plain"], with_comments=False),
    }
    clear_outputs(site, keep={_outputs["replik"], _outputs["plain"]})
    section: dict[str, Any] = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "site": {"posts": posts, "comments": site.total_comments, "seed": seed,
                 "path": str(site.root)},
        "runs": runs,
        "outputs": {kind: str(folder) for kind, folder in _outputs.items()},
        "theme": str(sitegen.PROJECT_ROOT / "theme"),
        "plain_theme": str(plain_theme or sitegen.PROJECT_ROOT / "theme"),
        "plain_theme_note": theme_note,
        "time_seconds": {k: summarize(v) for k, v in times.items() if v},
        "cpu_seconds": {k: summarize(v) for k, v in cpu.items() if v},
        "system_cpu_seconds": {k: summarize(v) for k, v in system.items() if v},
        "peak_rss_mb": {k: summarize(v) for k, v in memory.items() if v},
        "checks": checks,
        "file_creation_us": {"before": creation_before, "after": creation_after},
    }
    ratios: dict[str, dict[str, float]] = {}
    for variant in names[1:]:
        if variant in section["time_seconds"]:
            ratios[variant] = {
                name: round(section[key][variant]["median"] / section[key]["plain"]["median"], 3)
                for name, key in (("time", "time_seconds"), ("cpu", "cpu_seconds"),
                                  ("memory", "peak_rss_mb"))
            }
    section["ratios"] = ratios
    section["targets"] = {"time": TARGET_TIME_RATIO, "time_aim": AIM_TIME_RATIO,
                          "memory": TARGET_MEMORY_RATIO}
    cold = ratios["replik-cold"]
    # Judged on CPU time: Pelican is single-threaded, so it is the wall time of an idle
    # machine, and it does not swing with whatever else the machine is running.
    section["meets_targets"] = (
        cold["cpu"] <= TARGET_TIME_RATIO and cold["memory"] <= TARGET_MEMORY_RATIO
        and checks["replik"]["problem_count"] == 0
        and checks["replik"]["comments_on_pages"] == site.total_comments
    )
    if profile:
        say("build: profiling one replik build and one plain build under cProfile")
        section["profile"] = {
            "replik": profile_build(site, site.conf, site.output, workdir / "build-replik.prof"),
            "plain": profile_build(site, site.plain_conf, site.root / "output-plain",
                                   workdir / "build-plain.prof", plain_theme),
        }
    section["summary"] = summary_lines(section)
    report["build"] = section


def summary_lines(section: dict[str, Any]) -> list[str]:
    site = section["site"]
    t, c, m = section["time_seconds"], section["cpu_seconds"], section["peak_rss_mb"]
    checks = section["checks"]
    lines = [
        f"site: {site['posts']} posts, {site['comments']} approved comments"
        f" (seed {site['seed']}), {section['runs']} runs each, medians",
        f"baseline theme: {section['plain_theme_note']}",
        f"{'':18s} {'wall':>9s} {'CPU':>9s} {'peak RSS':>10s}   ratios to plain:"
        " wall, CPU, memory",
    ]
    for variant in t:
        ratio = section["ratios"].get(variant)
        extra = (f"   ×{ratio['time']:.2f}  ×{ratio['cpu']:.2f}  ×{ratio['memory']:.2f}"
                 if ratio else "")
        lines.append(f"{variant:18s} {t[variant]['median']:7.2f} s {c[variant]['median']:7.2f} s"
                     f" {m[variant]['median']:7.1f} MB{extra}")
    plain_runs, cold_runs = c["plain"].get("runs", []), c.get("replik-cold", {}).get("runs", [])
    if len(plain_runs) > 1 and len(plain_runs) == len(cold_runs):
        # Each round builds plain and cold back to back: how far the ratio moves.
        lines.append("CPU ratio cold/plain per round: " + " ".join(
            f"×{cold / plain:.2f}" for plain, cold in zip(plain_runs, cold_runs, strict=True)))
    creation = section.get("file_creation_us")
    if creation:
        # Every build creates thousands of files: a slow file system shows here first.
        lines.append(f"creating a file in the output folder cost {creation['before']} µs"
                     f" before the rounds, {creation['after']} µs after")
    rc = checks["replik"]
    lines.append(
        f"checked: {rc['posts_built']}/{rc['posts_expected']} posts, {rc['comments_on_pages']}"
        f"/{rc['comments_expected']} comments on their pages, {rc['comments_in_feeds']} in"
        f" their comment feeds (of {rc['comments_expected_in_feeds']} newest),"
        f" {rc['problem_count']} problems"
    )
    lines.append(
        f"targets (CPU time): time ≤ ×{section['targets']['time']}"
        f" (aim ×{section['targets']['time_aim']}),"
        f" memory ≤ ×{section['targets']['memory']}:"
        f" {'met' if section['meets_targets'] else 'NOT met'}"
    )
    for name, prof in section.get("profile", {}).items():
        lines.append(f"profile ({name}, cProfile, {prof['total_seconds']:.1f} s total):")
        for label, piece in prof["pieces"].items():
            lines.append(f"  {label:45s} {piece['seconds']:7.2f} s  {piece['share']:6.1%}"
                         f"  {piece['calls']} calls")
    return lines


def main(argv: list[str] | None = None) -> int:
    from .__main__ import merge_report

    parser = argparse.ArgumentParser(prog="python -m benchmarks.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--comments", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--seed", type=int, default=sitegen.DEFAULT_SEED)
    parser.add_argument("--profile", action="store_true",
                        help="also build once under cProfile and break the time down")
    parser.add_argument("--out", type=Path, default=DEFAULT_WORKDIR,
                        help="work folder and report location (default: bench-out/)")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    run(report, posts=args.posts, comments=args.comments, runs=args.runs,
        workdir=args.out, seed=args.seed, profile=args.profile)
    print("\n".join(report["build"]["summary"]))
    merge_report(args.out / "report.json", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
