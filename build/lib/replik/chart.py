"""The weekly chart of the dialogue report as server-rendered SVG.

Two panels share the week axis: bars for the answer share (each labelled with
its percentage) and a line with square markers for the median answer time
(each labelled in hours). The numbers are written on the chart, so it reads
without colour; ``<title>`` and ``<desc>`` describe it for screen readers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from markupsafe import Markup, escape

WIDTH, PANEL, GAP, LEFT, BOTTOM = 640, 120, 44, 56, 36


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def weekly_chart(weeks: list[dict[str, Any]],
                 gettext: Callable[[str], str] = lambda s: s) -> Markup:
    _ = gettext
    title = _("Answers per week")
    shares = [w["answer_share"] for w in weeks]
    times = [w["answer_median"] for w in weeks]
    described = "; ".join(
        f"{w['week']}: "
        + (_("{share} answered").format(share=f"{s * 100:.0f} %") if s is not None
           else _("no reader comments"))
        + (", " + _("median answer time {time}").format(time=_hours(t)) if t is not None else "")
        for w, s, t in zip(weeks, shares, times, strict=True)
    )
    height = 2 * PANEL + GAP + BOTTOM + 30
    count = max(len(weeks), 1)
    step = (WIDTH - LEFT - 10) / count
    bar = step * 0.6
    top1, top2 = 30, 30 + PANEL + GAP
    longest = max((t for t in times if t is not None), default=0) or 3600
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(described)}</desc>',
        f'<text x="{LEFT}" y="{top1 - 12}" class="chart-heading">'
        f'{escape(_("Share of reader comments answered by staff"))}</text>',
        f'<text x="{LEFT}" y="{top2 - 12}" class="chart-heading">'
        f'{escape(_("Median time to the first staff answer"))}</text>',
        f'<line x1="{LEFT}" y1="{top1 + PANEL}" x2="{WIDTH - 10}" y2="{top1 + PANEL}" '
        'class="axis"/>',
        f'<line x1="{LEFT}" y1="{top2 + PANEL}" x2="{WIDTH - 10}" y2="{top2 + PANEL}" '
        'class="axis"/>',
        f'<text x="{LEFT - 6}" y="{top1 + 4}" class="tick" text-anchor="end">100 %</text>',
        f'<text x="{LEFT - 6}" y="{top1 + PANEL}" class="tick" text-anchor="end">0 %</text>',
        f'<text x="{LEFT - 6}" y="{top2 + 4}" class="tick" text-anchor="end">'
        f'{escape(_hours(longest))}</text>',
        f'<text x="{LEFT - 6}" y="{top2 + PANEL}" class="tick" text-anchor="end">0 h</text>',
    ]
    points = []
    for index, week in enumerate(weeks):
        x = LEFT + step * index + (step - bar) / 2
        centre = x + bar / 2
        share, seconds = shares[index], times[index]
        if share is not None:
            h = PANEL * share
            parts.append(f'<rect x="{x:.1f}" y="{top1 + PANEL - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" class="bar"/>')
        label = f"{share * 100:.0f} %" if share is not None else "–"
        parts.append(f'<text x="{centre:.1f}" y="{top1 + PANEL - (PANEL * (share or 0)) - 4:.1f}"'
                     f' class="value" text-anchor="middle">{escape(label)}</text>')
        if seconds is not None:
            y = top2 + PANEL - PANEL * min(seconds / longest, 1.0)
            points.append((centre, y))
            parts.append(f'<rect x="{centre - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                         'class="marker"/>')
            parts.append(f'<text x="{centre:.1f}" y="{y - 8:.1f}" class="value" '
                         f'text-anchor="middle">{escape(_hours(seconds))}</text>')
        parts.append(f'<text x="{centre:.1f}" y="{top2 + PANEL + 16}" class="tick" '
                     f'text-anchor="middle">{escape(str(week["week"])[5:])}</text>')
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" class="line" fill="none"/>')
    parts.append("</svg>")
    return Markup("\n".join(parts))
