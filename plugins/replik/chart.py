"""The weekly chart of the dialogue report as server-rendered SVG.

Two panels share the week axis: bars for the answer share (labelled with the
percentage) and a line with square markers for the median answer time
(labelled in hours). The numbers are written on the chart, so it reads without
colour; ``<title>`` and ``<desc>`` describe every week for screen readers.
Numbers and dates follow the desk's language ("3,4 h", "02.03." in German).

When the weeks are too narrow for every label (a period of months), week
labels are written at regular steps and a number is left out where it would
overlap another label (weeks with reader comments win over empty ones); the
desk shows every week's numbers in a table below the chart.
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
    """The week's Monday as a short day and month: "2.3." (de), "3/2" (en)."""
    return format_skeleton("dM", date.fromisoformat(week[:10]), locale=locale)


class _Labels:
    """Places text where it overlaps no text placed before (or leaves it out)."""

    def __init__(self) -> None:
        self.boxes: list[tuple[float, float, float, float]] = []

    def place(self, x: float, y: float, text: str, anchor: str = "middle",
              size: float = FONT, force: bool = False) -> float | None:
        """``x`` where the text goes (moved inside the plot area), or None if it would
        overlap a label already placed."""
        width = text_width(text, size)
        if anchor == "middle":
            x = min(max(x, LEFT + width / 2 + 2), WIDTH - RIGHT - width / 2)
        left = {"middle": x - width / 2, "end": x - width}.get(anchor, x)
        box = (left - LABEL_GAP / 2, y - size, left + width + LABEL_GAP / 2, y + size * 0.3)
        if not force and any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                             for b in self.boxes):
            return None
        self.boxes.append(box)
        return x


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
    # Every n-th week labelled, so that neighbouring labels keep LABEL_GAP apart.
    widest = max((text_width(label) for label in day_labels), default=0.0)
    every_day = max(1, math.ceil((widest + LABEL_GAP) / step))
    labels = _Labels()
    fixed = [  # headings and the value axes: (x, y, text, anchor, class, size)
        (LEFT, HEADING1, _("Share of reader comments answered by staff"), "start",
         "chart-heading", HEADING_FONT),
        (LEFT, HEADING2, _("Median time to the first staff answer"), "start",
         "chart-heading", HEADING_FONT),
        (LEFT - 6, TOP1 + 4, percent(1.0), "end", "tick", FONT),
        (LEFT - 6, TOP1 + PANEL, percent(0.0), "end", "tick", FONT),
        (LEFT - 6, TOP2 + 4, hours(longest, locale), "end", "tick", FONT),
        (LEFT - 6, TOP2 + PANEL, "0 h", "end", "tick", FONT),
    ]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(described)}</desc>',
        *(f'<line x1="{LEFT}" y1="{top + PANEL}" x2="{WIDTH - RIGHT}" y2="{top + PANEL}" '
          'class="axis"/>' for top in (TOP1, TOP2)),
    ]
    for x, y, text, anchor, kind, size in fixed:
        labels.place(x, y, text, anchor, size, force=True)
        anchored = f' text-anchor="{anchor}"' if anchor != "start" else ""
        parts.append(f'<text x="{x}" y="{y}" class="{kind}"{anchored}>{escape(text)}</text>')
    centres = [LEFT + step * index + step / 2 for index in range(len(weeks))]
    # Week labels first (at regular steps), then the numbers: those of weeks with
    # reader comments before the "–" of weeks without; a label that would overlap
    # one already placed is left out (the table below the chart has them all).
    texts: list[str] = []
    for index, centre in enumerate(centres):
        if index % every_day == 0:
            x = labels.place(centre, TOP2 + PANEL + 16, day_labels[index], force=True)
            texts.append(f'<text x="{x:.1f}" y="{TOP2 + PANEL + 16}" class="tick" '
                         f'text-anchor="middle">{escape(day_labels[index])}</text>')
    points, candidates = [], []
    for index, centre in enumerate(centres):
        share, seconds = shares[index], times[index]
        if share is not None:
            h = PANEL * share
            parts.append(f'<rect x="{centre - bar / 2:.1f}" y="{TOP1 + PANEL - h:.1f}" '
                         f'width="{bar:.1f}" height="{h:.1f}" class="bar"/>')
        candidates.append((share is None, index, centre,
                           TOP1 + PANEL - PANEL * (share or 0) - 4, share_labels[index]))
        if seconds is not None:
            y = TOP2 + PANEL - PANEL * min(seconds / longest, 1.0)
            points.append((centre, y))
            parts.append(f'<rect x="{centre - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                         'class="marker"/>')
            candidates.append((False, index, centre, y - 8, time_labels[index]))
    for _empty, _index, centre, y, text in sorted(candidates, key=lambda c: (c[0], c[1])):
        x = labels.place(centre, y, text)
        if x is not None:
            texts.append(f'<text x="{x:.1f}" y="{y:.1f}" class="value" '
                         f'text-anchor="middle">{escape(text)}</text>')
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" class="line" fill="none"/>')
    parts += texts
    parts.append("</svg>")
    return Markup("\n".join(parts))
