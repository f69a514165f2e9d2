"""Accessibility checks in a real browser: axe-core and WCAG contrast (helpers, no tests).

axe-core comes from the ``axe-playwright-python`` package (a test extra), which
ships ``axe.min.js``; it is injected into the page as a script tag. Pages with a
Content-Security-Policy (the desk) need a browser context with ``bypass_csp=True``.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

from social_badges.svgbadge import contrast

AXE_JS = files("axe_playwright_python") / "axe.min.js"
SERIOUS = ("serious", "critical")

_RUN = """() => axe.run(document, {resultTypes: ["violations"]}).then(result =>
  result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " + n.failureSummary)})))"""


def axe_violations(page: Any, impacts: tuple[str, ...] = SERIOUS) -> list[dict[str, Any]]:
    """The axe-core violations on the page as it is now, of the given impacts."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    return [v for v in page.evaluate(_RUN) if v["impact"] in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(f"{v['impact']} {v['id']} ({v['help']}):\n    " + "\n    ".join(v["nodes"])
                     for v in violations)


def hex_colour(css: str) -> str:
    """``rgb(1, 2, 3)`` (as getComputedStyle gives it) as ``#010203``; opaque colours only."""
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)]
    assert len(numbers) == 3 or (len(numbers) == 4 and numbers[3] == 1), \
        f"not an opaque colour: {css}"
    return "#" + "".join(f"{round(n):02X}" for n in numbers[:3])


def contrast_of(page: Any, selector: str) -> float:
    """WCAG contrast of the first matching element's text on the background it is drawn
    on (its own, or the nearest ancestor's that is not transparent)."""
    colours = page.eval_on_selector(selector, """e => {
        const colour = getComputedStyle(e).color;
        let under = e;
        while (under.parentElement && getComputedStyle(under).backgroundColor === "rgba(0, 0, 0, 0)")
            under = under.parentElement;
        return [colour, getComputedStyle(under).backgroundColor]; }""")
    return contrast(hex_colour(colours[0]), hex_colour(colours[1]))
