"""Standalone SVG badges in the shields.io "flat" style: icon and label | message.

Text widths are estimated from Verdana 11px metrics and pinned with
``textLength``, so the badge looks the same whichever fallback font renders it.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

from .icons import Icon

FONT = "Verdana,Geneva,DejaVu Sans,sans-serif"
# Widths in px of the characters that are not as wide as most of their kind.
_WIDTHS = {**dict.fromkeys("ijl.,:;'|!I ·\xa0", 3.6), **dict.fromkeys("frt()[]-/1", 4.9),
           **dict.fromkeys("mwMW@%", 10.0)}


def text_width(text: str) -> float:
    """Approximate width in px of ``text`` in Verdana 11px."""
    return round(sum(_WIDTHS.get(ch) or (7.0 if ch.isdigit() else 7.6 if ch.isupper() else 6.5)
                     for ch in text), 1)


def _luminance(color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _towards(color: str, other: str, ratio: float, step: Callable[[int], int]) -> str:
    """``color`` with ``step`` applied to each channel until it reaches ``ratio``
    against ``other`` (or ``step`` changes nothing any more)."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    current = color.upper()
    while contrast(current, other) < ratio and (stepped := [step(v) for v in rgb]) != rgb:
        rgb = stepped
        current = "#{:02X}{:02X}{:02X}".format(*rgb)
    return current


def readable_background(color: str, text: str = "#FFFFFF", ratio: float = 4.5) -> str:
    """Darken ``color`` until ``text`` on it reaches WCAG AA contrast (keeps the hue)."""
    return _towards(color, text, ratio, lambda v: int(v * 0.92))


def icon_colors(color: str) -> tuple[str, str]:
    """Brand colour for icons on a light and on a dark page (mixed with white), each at
    least 3:1 (WCAG 1.4.11 for graphics)."""
    return (readable_background(color, "#FFFFFF", 3.0),
            _towards(color, "#181715", 3.0, lambda v: min(255, int(v + (255 - v) * 0.15) + 1)))


def render_badge(label: str, message: str, icon: Icon | None, color: str) -> str:
    """The SVG document (text) of one badge; ``label: message`` is its accessible name."""
    pad, icon_size = 6.0, 14.0
    label_w, message_w = text_width(label), text_width(message)
    icon_w = icon_size + 4 if icon else 0.0
    left = round(pad + icon_w + label_w + pad, 1)
    right = round(pad + message_w + pad, 1)
    total = round(left + right, 1)
    background = readable_background(color)
    name = f"{label}: {message}"
    label_x = round(pad + icon_w + label_w / 2, 1)
    message_x = round(left + right / 2, 1)
    icon_svg = ""
    if icon:
        icon_svg = (
            f'<svg x="{pad}" y="3" width="{icon_size}" height="{icon_size}"'
            f' viewBox="{icon.view_box}" fill="#fff" aria-hidden="true">{icon.body}</svg>'
        )

    def text(x: float, width: float, value: str) -> str:
        body = escape(value)
        return (
            f'<text x="{x}" y="15" fill="#010101" fill-opacity=".3" textLength="{width}">'
            f"{body}</text>"
            f'<text x="{x}" y="14" textLength="{width}">{body}</text>'
        )

    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20"'
        f' viewBox="0 0 {total} 20" role="img" aria-label={quoteattr(name)}>'
        f"<title>{escape(name)}</title>"
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb"'
        ' stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{background}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        f"{icon_svg}"
        f'<g fill="#fff" text-anchor="middle" font-family="{FONT}" font-size="11">'
        f"{text(label_x, label_w, label)}{text(message_x, message_w, message)}</g>"
        "</svg>\n"
    )
