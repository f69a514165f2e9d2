"""What each piece of the speed machinery saves: builds with and without it.

``python -m benchmarks.pieces [--posts 1000 --comments 20000] [--rounds 5 |
--instructions] [VARIANT[@REF] ...]`` builds the build benchmark's site
(``sitegen``) in fresh processes. A variant is our build with one piece taken out
by a patch applied in the build process (``python -m benchmarks.pieces --run PATCH
-- PELICAN-ARGS``), never by a setting of the project. Two ways to measure:

* CPU time (default): every variant once per round, the order rotating from round
  to round (A B C …, B C … A, …), so that all variants see the same machine;
  reported are each variant's median and, per round, its CPU time against the
  baseline's of the same round (median and spread of those ratios). On a loaded
  machine a round moves by ±15 %, too much to see a few per cent.
* ``--instructions``: one build of each variant under valgrind (cachegrind, no cache
  simulation), counting the instructions it runs: the same on a busy machine as on
  an idle one, but blind to the kernel's work (file creation, reading) and to
  memory stalls. Two builds at a time, about 50 times slower than a build.

Each build runs a copy of ``plugins/`` and ``theme/`` made at the start (so the
working tree may change meanwhile); ``VARIANT@REF`` builds a commit's instead, so
``baseline@1cb82c7 baseline`` compares a commit with the working tree in one run.

Variants (``baseline``: the project as it is, a build from nothing). The pieces
measured before this redesign exist only in older commits (1cb82c7): their variants
are for ``@1cb82c7`` (on later code their patch does nothing, or the build fails).

* ``plain`` — plain Pelican, for scale;
* ``no-thread-cache`` — ``REPLIK_CACHE = ""``, a build from nothing without the
  thread cache; ``warm`` — a build with the thread cache a previous build left
  (made once, untimed, before the rounds);
* up to 1cb82c7: ``no-gettext-caches`` (``_()`` and friends look each message up
  on every call), ``no-gettext-formatted`` (only results with variables not kept),
  ``no-fragment-cache`` (``cached_fragment`` renders its block every time),
  ``no-gc-freeze`` (the build does not freeze what it read), ``feedgen`` (the
  comment feeds written by feedgen, ``REPLIK_FEED_WRITER``); up to 169d5bf:
  ``no-thread-markup`` (the theme's partials draw every thread, thread_markup not
  offered).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import sitegen
from .build import DEFAULT_WORKDIR, pelican_argv
from .measure import run_measured


# --- patches, applied in the build process -----------------------------------------
def _no_thread_markup() -> None:
    from replik import thread_markup  # type: ignore[attr-defined]  # up to 169d5bf

    thread_markup.matches_theme = lambda env: False


def _no_gettext_caches() -> None:
    from jinja2 import pass_context
    from markupsafe import Markup

    from replik import i18n

    def plain(settings: Any) -> tuple[Any, ...]:
        default = settings.lang

        def catalog(context: Any) -> Any:
            return i18n.translations_for(settings, i18n.page_language(context, default))

        def finish(context: Any, rv: str, variables: dict[str, Any]) -> str:
            return (Markup(rv) if context.eval_ctx.autoescape else rv) % variables

        @pass_context
        def gettext_(__context: Any, __string: str, **variables: Any) -> str:
            return finish(__context, catalog(__context).gettext(__string), variables)

        @pass_context
        def ngettext_(__context: Any, __s: str, __p: str, __num: int, **variables: Any) -> str:
            variables.setdefault("num", __num)
            return finish(__context, catalog(__context).ngettext(__s, __p, __num), variables)

        @pass_context
        def pgettext_(__context: Any, __ctx: str, __string: str, **variables: Any) -> str:
            variables.setdefault("context", __ctx)
            return finish(__context, catalog(__context).pgettext(__ctx, __string), variables)

        @pass_context
        def npgettext_(__context: Any, __ctx: str, __s: str, __p: str, __num: int,
                       **variables: Any) -> str:
            variables.setdefault("context", __ctx)
            variables.setdefault("num", __num)
            return finish(__context, catalog(__context).npgettext(__ctx, __s, __p, __num),
                          variables)

        return gettext_, ngettext_, pgettext_, npgettext_

    i18n.page_gettext = plain


def _no_gettext_formatted() -> None:
    from replik import i18n

    i18n._result_key = lambda call, variables: None  # results with variables not kept


def _no_fragment_cache() -> None:
    from jinja2 import pass_context

    from replik import i18n

    def every_time(_page_language: Any) -> Any:
        @pass_context
        def cached_fragment(_context: Any, _name: str, substitute: Any = None, *,
                            caller: Any) -> Any:
            return caller() if substitute is None else caller(substitute)
        return cached_fragment

    i18n.fragment_cache = every_time


def _no_gc_freeze() -> None:
    gc.freeze = lambda: None


PATCHES = {
    "thread-markup": _no_thread_markup,
    "gettext-caches": _no_gettext_caches,
    "gettext-formatted": _no_gettext_formatted,
    "fragment-cache": _no_fragment_cache,
    "gc-freeze": _no_gc_freeze,
}


def run_patched(names: list[str], pelican_args: list[str]) -> None:
    """Apply the patches, then run Pelican as ``python -m pelican`` would."""
    import pelican

    # Imported before Pelican loads them as plugins, so Pelican takes these (and the
    # patches apply): the copy on PYTHONPATH.
    import replik.plugin  # noqa: F401
    import social_badges  # noqa: F401

    for name in names:
        PATCHES[name]()
    sys.argv = ["pelican", *pelican_args]
    pelican.main()


# --- the variants -------------------------------------------------------------------
#: name -> (patches, extra Pelican settings, cache: "cold" | "warm" | "none")
VARIANTS: dict[str, tuple[list[str], dict[str, str], str]] = {
    "baseline": ([], {}, "cold"),
    "no-thread-markup": (["thread-markup"], {}, "cold"),
    "no-gettext-caches": (["gettext-caches"], {}, "cold"),
    "no-gettext-formatted": (["gettext-formatted"], {}, "cold"),
    "no-fragment-cache": (["fragment-cache"], {}, "cold"),
    "no-gc-freeze": (["gc-freeze"], {}, "cold"),
    "feedgen": ([], {"REPLIK_FEED_WRITER": '"feedgen"'}, "cold"),
    "no-thread-cache": ([], {}, "none"),
    "warm": ([], {}, "warm"),
}
#: The variants whose piece the current code still has (the others are for @1cb82c7).
CURRENT = ["baseline", "no-thread-cache", "warm"]


def code_copy(ref: str, work: Path) -> Path:
    """The plugins, theme and settings to build with, copied aside (so that the working
    tree can change while the rounds run): from the working tree, or from a commit."""
    folder = work / "code" / (ref or "worktree")
    parts = ("plugins", "theme", "pelicanconf.py")
    if not folder.is_dir():
        folder.mkdir(parents=True)
        if ref:
            archive = subprocess.run(["git", "archive", ref, *parts],
                                     cwd=sitegen.PROJECT_ROOT, check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        else:
            for part in parts[:2]:
                shutil.copytree(sitegen.PROJECT_ROOT / part, folder / part,
                                ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copy2(sitegen.PROJECT_ROOT / parts[2], folder / parts[2])
    return folder


def site_conf(conf: Path, code: Path) -> Path:
    """The site's settings ``conf`` on the copy's pelicanconf.py (an older one may
    import modules the working tree has and the commit has not, or the other way)."""
    copy = code / f"site-{conf.name}"  # not the copy of the project's pelicanconf.py
    if not copy.exists():
        project = repr(str(sitegen.PROJECT_ROOT / "pelicanconf.py"))
        text = conf.read_text(encoding="utf-8")
        if project not in text:
            raise RuntimeError(f"{conf} does not run {project}")
        copy.write_text(text.replace(project, repr(str(code / "pelicanconf.py"))),
                        encoding="utf-8")
    return copy


def build_argv(site: sitegen.Site, variant: str, output: Path, cache: Path, code: Path
               ) -> list[str]:
    name = variant.partition("@")[0]
    if name == "plain":
        args = pelican_argv(site, site_conf(site.plain_conf, code), output)[3:]  # after -m pelican
        patches: list[str] = []
    else:
        patches, settings, how = VARIANTS[name]
        settings = dict(settings)
        settings["REPLIK_CACHE"] = '""' if how == "none" else f'"{cache}"'
        args = pelican_argv(site, site_conf(site.conf, code), output)[3:]
        args += ["-e", *(f"{key}={value}" for key, value in settings.items())]
    args += ["-t", str(code / "theme")]
    return [sys.executable, "-m", "benchmarks.pieces", "--run", ",".join(patches), "--", *args]


class Builds:
    """Builds of the variants in fresh processes, each on its copy of the code."""

    def __init__(self, site: sitegen.Site, variants: list[str], work: Path,
                 instructions: bool = False) -> None:
        self.site, self.work, self.instructions = site, work, instructions
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.codes = {v: code_copy(v.partition("@")[2], work) for v in variants}
        self.counter = itertools.count()
        self.peak_mb: dict[str, list[float]] = {v: [] for v in variants}  # CPU mode only

    def build(self, variant: str, instructions: bool | None = None) -> float:
        """One build: its CPU seconds, or (``instructions``) the instructions it ran."""
        instructions = self.instructions if instructions is None else instructions
        number = next(self.counter)
        output = self.work / "runs" / f"{number}"
        cache = self.work / "caches" / variant
        if VARIANTS.get(variant.partition("@")[0], ([], {}, ""))[2] == "cold" \
                and cache.exists():
            # Moved aside, not deleted: files made right after many were deleted cost
            # more on ext4 (see build.new_output); the work folder goes at the end.
            cache.rename(self.work / "runs" / f"old-cache-{number}")
        log = self.logs / f"{variant}-{number}.log"
        # The copy's packages come first on the path, before the editable install.
        env = {**os.environ, "PYTHONPATH": str(self.codes[variant] / "plugins")}
        argv = build_argv(self.site, variant, output, cache, self.codes[variant])
        if instructions:
            # Counted by valgrind: the same on a busy machine as on an idle one (the
            # hash seed fixed, so that sets and dicts are walked the same way).
            env["PYTHONHASHSEED"] = "0"
            argv = [shutil.which("valgrind") or "valgrind", "--tool=cachegrind",
                    "--cache-sim=no", "--cachegrind-out-file=/dev/null", *argv]
        result = run_measured(argv, sitegen.PROJECT_ROOT, log, env)
        text = log.read_text(errors="replace")
        if result.returncode != 0:
            raise RuntimeError(f"{variant} failed: {text[-2000:]}")
        if instructions:
            found = re.search(r"I\s+refs:\s+([\d,]+)", text)
            if found is None:
                raise RuntimeError(f"no instruction count in {log}")
            return int(found.group(1).replace(",", ""))
        if not instructions:
            self.peak_mb[variant].append(result.peak_rss_mb)
        return result.cpu_seconds

    def prime(self, variants: list[str]) -> None:
        for variant in variants:
            if variant.partition("@")[0] == "warm":
                self.build(variant, instructions=False)  # the cache a build leaves, untimed
                self.peak_mb[variant].pop()


def measure(builds: Builds, variants: list[str], rounds: int) -> dict[str, list[float]]:
    """CPU seconds of ``rounds`` builds of each variant, interleaved."""
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    builds.prime(variants)
    for number in range(rounds):
        shift = number % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            cpu[variant].append(builds.build(variant))
            print(f"round {number + 1} {variant:18s} {cpu[variant][-1]:6.2f} s CPU", flush=True)
    return cpu


def count(builds: Builds, variants: list[str]) -> dict[str, list[float]]:
    """The instructions one build of each variant runs, two builds at a time."""
    builds.prime(variants)
    with ThreadPoolExecutor(2) as pool:
        counts = dict(zip(variants, pool.map(builds.build, variants), strict=True))
    for variant, value in counts.items():
        print(f"{variant:18s} {value / 1e9:8.3f} G instructions", flush=True)
    return {variant: [value / 1e9] for variant, value in counts.items()}


def report(cpu: dict[str, list[float]], unit: str = "s") -> list[str]:
    base = next((values for name, values in cpu.items()
                 if name.partition("@")[0] == "baseline"), None)
    lines = [f"{'variant':18s} {'median':>10s}  {'vs baseline (per round)':>24s}"]
    for name, values in cpu.items():
        line = f"{name:18s} {statistics.median(values):8.3f} {unit}"
        if base and values is not base:
            ratios = sorted(v / b for v, b in zip(values, base, strict=True))
            line += f"  {statistics.median(ratios) - 1:+7.1%}"
            if len(ratios) > 1:
                line += f" (rounds {ratios[0] - 1:+.1%} … {ratios[-1] - 1:+.1%})"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--run"]:
        names = [n for n in argv[1].split(",") if n]
        run_patched(names, argv[3:])  # argv[2] is "--"
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pieces", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", metavar="VARIANT",
                        help=f"default: plain and {', '.join(CURRENT)}; also"
                        f" {', '.join(v for v in VARIANTS if v not in CURRENT)} (@1cb82c7)")
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--comments", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="where the site and the builds go (default: bench-out/; another"
                        " one lets this run beside make bench, whose approve benchmark adds"
                        " entries to its site)")
    parser.add_argument("--instructions", action="store_true",
                        help="count each variant's instructions once (valgrind) instead")
    args = parser.parse_args(argv)
    args.workdir = args.workdir.resolve()  # REPLIK_CACHE is taken relative to the site
    variants = args.variants or ["plain", *CURRENT]
    unknown = [v for v in variants if v.partition("@")[0] not in ("plain", *VARIANTS)]
    if unknown:
        parser.error(f"unknown variant {', '.join(unknown)}")
    if not any(v.partition("@")[0] == "baseline" for v in variants):
        variants.insert(0, "baseline")
    site = sitegen.ensure_site(
        args.workdir / f"site-{args.posts}-{args.comments}-{sitegen.DEFAULT_SEED}",
        posts=args.posts, comments=args.comments)
    work = args.workdir / "pieces" / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    builds = Builds(site, variants, work, args.instructions)
    try:
        if args.instructions:
            print(f"{args.posts} posts, {site.total_comments} comments, instructions (valgrind)")
            print("\n".join(report(count(builds, variants), "G")))
        else:
            cpu = measure(builds, variants, args.rounds)
            print(f"{args.posts} posts, {site.total_comments} comments, {args.rounds} rounds,"
                  " interleaved, CPU time")
            print("\n".join(report(cpu)))
            print("peak memory (median): " + ", ".join(
                f"{name} {statistics.median(mb):.1f} MB"
                for name, mb in builds.peak_mb.items() if mb))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
