"""The issues' targets, judged on one ``make bench`` report.

Each benchmark stores its raw figures; this module says which of them are targets and
whether the run met them, so ``make bench`` fails when a target is missed.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    name: str
    section: str
    measured: Callable[[dict[str, Any]], float]
    compare: Callable[[float, float], bool]
    limit: float
    unit: str = ""

    def judge(self, report: dict[str, Any]) -> tuple[float | None, bool | None]:
        """(measured value, met?); (None, None) when the benchmark did not run."""
        section = report.get(self.section)
        if not isinstance(section, dict) or "error" in section:
            return None, None
        try:
            value = float(self.measured(section))
        except (KeyError, TypeError):
            return None, None
        return value, self.compare(value, self.limit)


AT_MOST, AT_LEAST = operator.le, operator.ge

TARGETS = (
    Target("build CPU time, cold, vs plain Pelican", "build",
           lambda s: s["ratios"]["replik-cold"]["cpu"], AT_MOST, 1.5, "×"),
    Target("build peak memory vs plain Pelican", "build",
           lambda s: s["ratios"]["replik-cold"]["memory"], AT_MOST, 1.5, "×"),
    Target("build from PostgreSQL vs from files, cold (CPU)", "build_pg",
           lambda s: s["cpu_ratio_postgres_to_files"]["cold"], AT_MOST, 1.1, "×"),
    Target("build from PostgreSQL vs from files, warm (CPU)", "build_pg",
           lambda s: s["cpu_ratio_postgres_to_files"]["warm"], AT_MOST, 1.1, "×"),
    Target("intake vs Isso 0.14", "intake",
           lambda s: s["throughput_ratio"], AT_LEAST, 2.0, "×"),
    Target("intake p99 at 32 clients, files", "intake",
           lambda s: s["replik"]["latency_ms"]["p99"], AT_MOST, 50, " ms"),
    Target("intake on PostgreSQL (one node) vs files", "intake",
           lambda s: s["postgres_ratio"], AT_LEAST, 0.7, "×"),
    Target("intake p99 at 32 clients, PostgreSQL", "intake",
           lambda s: s["postgres"]["latency_ms"]["p99"], AT_MOST, 50, " ms"),
    Target("approve → live, desk, median", "approve",
           lambda s: s["desk"]["median_seconds"] * 1000, AT_MOST, 1000, " ms"),
    Target("approve → live, replik worker, median", "approve",
           lambda s: s["worker"]["median_seconds"] * 1000, AT_MOST, 1000, " ms"),
    Target("approve fast path identical to a full build", "approve",
           lambda s: float(s["identical_to_full_build"]), AT_LEAST, 1.0),
    Target("queueing reply mails for 1,000 subscribers", "notify",
           lambda s: s["queue_s"] * 1000, AT_MOST, 1000, " ms"),
    Target("import of the large export, wall time", "import",
           lambda s: s["large"]["first"]["wall_seconds"], AT_MOST, 120, " s"),
    Target("import peak memory", "import",
           lambda s: max(s["large"][run]["peak_rss_mb"] for run in ("first", "second")),
           AT_MOST, 100, " MB"),
    Target("import rate (wall)", "import",
           lambda s: s["large"]["first"]["comments_per_second"], AT_LEAST, 2000, "/s"),
)


def judge(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Lines of a table of every target, and the names of those missed."""
    lines, missed = [], []
    for target in TARGETS:
        value, met = target.judge(report)
        sign = "≤" if target.compare is AT_MOST else "≥"
        goal = f"{sign} {target.limit:g}{target.unit}"
        if met is None:
            lines.append(f"  {target.name}: {goal}: not measured in this run")
            continue
        lines.append(f"  {target.name}: {goal}: {value:,.2f}{target.unit} "
                     f"{'met' if met else 'MISSED'}")
        if not met:
            missed.append(target.name)
    return lines, missed
