"""``python -m benchmarks [NAME ...]`` (``make bench``): run the benchmarks, write a report.

Each benchmark is a module ``benchmarks.<name>`` (``import``: ``benchmarks.imports``)
exposing ``run(report: dict)``, which stores its results under ``report[<name>]`` (a
dict; an optional ``"summary"`` list of lines is printed as is). A module that does not exist yet is
skipped with a note. Each benchmark's results are merged into ``bench-out/report.json``
as soon as it finishes.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import targets

BENCHMARKS = ("build", "build_pg", "intake", "approve", "notify", "import")
#: A benchmark whose module has another name ("import" is a Python keyword).
MODULES = {"import": "imports"}
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "bench-out"


def merge_report(path: Path, report: dict[str, Any]) -> None:
    """Merge ``report``'s sections into the JSON file at ``path`` (written atomically)."""
    try:
        merged = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(merged, dict):
            merged = {}
    except (OSError, ValueError):
        merged = {}
    merged.update(report)
    merged["machine"] = {
        "python": platform.python_version(), "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(merged, ensure_ascii=False, indent=2, default=str) + "\n",
                   encoding="utf-8")
    tmp.replace(path)


def _summary(name: str, section: Any) -> list[str]:
    if isinstance(section, dict) and isinstance(section.get("summary"), list):
        return [str(line) for line in section["summary"]]
    if isinstance(section, dict):
        return [f"{key}: {value}" for key, value in section.items()
                if isinstance(value, str | int | float | bool)]
    return [repr(section)]


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(f"benchmarks.{MODULES.get(name, name)}") is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where report.json goes (default: bench-out/)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)

    report: dict[str, Any] = {}
    failed: list[str] = []
    for name in names:
        if not _module_exists(name):
            print(f"== {name}: skipped (benchmarks/{MODULES.get(name, name)}.py is not there"
                  " yet)")
            continue
        print(f"== {name}")
        started = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.{MODULES.get(name, name)}").run(report)
        except Exception:  # one broken benchmark must not hide the others' results
            traceback.print_exc()
            report[name] = {"error": traceback.format_exc(limit=3),
                            "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
            failed.append(name)
        print(f"-- {name} took {time.perf_counter() - started:.0f} s")
        # Saved as each one finishes: a long run stopped midway keeps what it measured.
        merge_report(args.out / "report.json", {name: report[name]} if name in report else {})

    print("\n== Summary")
    for name, section in report.items():
        print(f"[{name}]")
        for line in _summary(name, section):
            print(f"  {line}")
    lines, missed = targets.judge(report)
    print("\n== Targets (this run)")
    print("\n".join(lines))
    print(f"\nreport: {args.out / 'report.json'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    if missed:
        print(f"targets missed: {', '.join(missed)}", file=sys.stderr)
    return 1 if failed or missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
