"""The weekly chart of the dialogue report as server-rendered SVG.

Two panels share the week axis: bars for the answer share (labelled with the
percentage) and a line with square markers for the median answer time
(labelled in hours). The numbers are written on the chart, so it reads without
colour; ``<title>`` and ``<desc>`` describe every week for screen readers.
Numbers and dates follow the desk's language ("3,4 h", "02.03." in German).

When the weeks are too narrow for every label (a period of months), only every
n-th week is labelled, so that no two labels overlap; the desk shows every
week's numbers in a table below the chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any

from babel.dates import format_skeleton
from markupsafe import Markup, escape

from .report import hours, percent

WIDTH, PANEL, LEFT, RIGHT = 640, 120, 56, 10
FONT, HEADING_FONT = 11, 12
# A generous estimate of a character's width in the chart's sans-serif text:
# labels are spaced by it, so that real glyphs (narrower on average) never touch.
CHAR_WIDTH = 0.62
LABEL_GAP = 6
# Where things sit, from the top: heading, panel, heading, panel, week labels.
HEADING1 = 18
TOP1 = HEADING1 + 24
HEADING2 = TOP1 + PANEL + 30
TOP2 = HEADING2 + 26
HEIGHT = TOP2 + PANEL + 28


def text_width(text: str, size: float = FONT) -> float:
    return len(text) * size * CHAR_WIDTH


def week_label(week: str, locale: str) -> str:
    """The week's Monday as a short day and month: "02.03." (de), "3/2" (en)."""
    return format_skeleton("dM", date.fromisoformat(week[:10]), locale=locale)


def _every(labels: list[str], step: float) -> int:
    """Label every n-th week so that neighbouring labels keep LABEL_GAP apart."""
    widest = max((text_width(label) for label in labels), default=0.0)
    return max(1, math.ceil((widest + LABEL_GAP) / step))


def _centred(centre: float, label: str) -> float:
    """A label's centre, moved inwards where it would stick out of the plot area."""
    half = text_width(label) / 2
    return min(max(centre, LEFT + half + 2), WIDTH - RIGHT - half)


def weekly_chart(weeks: list[dict[str, Any]],
                 gettext: Callable[[str], str] = lambda s: s,
                 locale: str = "en") -> Markup:
    _ = gettext
    title = _("Answers per week")
    shares = [w["answer_share"] for w in weeks]
    times = [w["answer_median"] for w in weeks]
    described = "; ".join(
        f"{week_label(w['week'], locale)}: "
        + (_("{share} answered").format(share=percent(s)) if s is not None
           else _("no reader comments"))
        + (", " + _("median answer time {time}").format(time=hours(t, locale))
           if t is not None else "")
        for w, s, t in zip(weeks, shares, times, strict=True)
    )
    step = (WIDTH - LEFT - RIGHT) / max(len(weeks), 1)
    bar = step * 0.6
    longest = max((t for t in times if t is not None), default=0) or 3600
    share_labels = [percent(s) if s is not None else "–" for s in shares]
    time_labels = [hours(t, locale) if t is not None else "" for t in times]
    day_labels = [week_label(w["week"], locale) for w in weeks]
    every_share = _every(share_labels, step)
    every_time = _every(time_labels, step)
    every_day = _every(day_labels, step)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(described)}</desc>',
        f'<text x="{LEFT}" y="{HEADING1}" class="chart-heading">'
        f'{escape(_("Share of reader comments answered by staff"))}</text>',
        f'<text x="{LEFT}" y="{HEADING2}" class="chart-heading">'
        f'{escape(_("Median time to the first staff answer"))}</text>',
        f'<line x1="{LEFT}" y1="{TOP1 + PANEL}" x2="{WIDTH - RIGHT}" y2="{TOP1 + PANEL}" '
        'class="axis"/>',
        f'<line x1="{LEFT}" y1="{TOP2 + PANEL}" x2="{WIDTH - RIGHT}" y2="{TOP2 + PANEL}" '
        'class="axis"/>',
        f'<text x="{LEFT - 6}" y="{TOP1 + 4}" class="tick" text-anchor="end">'
        f'{escape(percent(1.0))}</text>',
        f'<text x="{LEFT - 6}" y="{TOP1 + PANEL}" class="tick" text-anchor="end">'
        f'{escape(percent(0.0))}</text>',
        f'<text x="{LEFT - 6}" y="{TOP2 + 4}" class="tick" text-anchor="end">'
        f'{escape(hours(longest, locale))}</text>',
        f'<text x="{LEFT - 6}" y="{TOP2 + PANEL}" class="tick" text-anchor="end">0 h</text>',
    ]
    points = []
    for index in range(len(weeks)):
        x = LEFT + step * index + (step - bar) / 2
        centre = x + bar / 2
        share, seconds = shares[index], times[index]
        if share is not None:
            h = PANEL * share
            parts.append(f'<rect x="{x:.1f}" y="{TOP1 + PANEL - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" class="bar"/>')
        if index % every_share == 0:
            label = share_labels[index]
            parts.append(
                f'<text x="{_centred(centre, label):.1f}" '
                f'y="{TOP1 + PANEL - PANEL * (share or 0) - 4:.1f}" class="value" '
                f'text-anchor="middle">{escape(label)}</text>')
        if seconds is not None:
            y = TOP2 + PANEL - PANEL * min(seconds / longest, 1.0)
            points.append((centre, y))
            parts.append(f'<rect x="{centre - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                         'class="marker"/>')
            if index % every_time == 0:
                label = time_labels[index]
                parts.append(f'<text x="{_centred(centre, label):.1f}" y="{y - 8:.1f}" '
                             f'class="value" text-anchor="middle">{escape(label)}</text>')
        if index % every_day == 0:
            label = day_labels[index]
            parts.append(f'<text x="{_centred(centre, label):.1f}" y="{TOP2 + PANEL + 16}" '
                         f'class="tick" text-anchor="middle">{escape(label)}</text>')
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" class="line" fill="none"/>')
    parts.append("</svg>")
    return Markup("\n".join(parts))
