"""Icons as inline SVG: the bundled set (see icons/README.md) and custom ones.

Every icon, bundled or custom, passes one allowlist: a few shape elements and
presentation attributes. A custom icon from the configuration therefore cannot
bring scripts, event handlers, external references or styles into the pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from markupsafe import Markup, escape

ICON_DIR = Path(__file__).with_name("icons")
SVG_NS = "{http://www.w3.org/2000/svg}"
SHAPES = {"g", "path", "circle", "ellipse", "rect", "polygon", "polyline", "line"}
ATTRIBUTES = {
    "d", "cx", "cy", "r", "rx", "ry", "x", "y", "width", "height", "points",
    "x1", "y1", "x2", "y2", "fill", "fill-rule", "clip-rule", "transform",
    "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin", "opacity",
}
MAX_ICON_BYTES = 32_768


class IconError(ValueError):
    """An icon file that is missing, not SVG, or holds something not allowed."""


@dataclass(frozen=True)
class Icon:
    view_box: str
    body: str  # serialized, allowlisted shape elements
    color: str  # brand colour, "#RRGGBB"

    def inline(self, css_class: str = "social-icon") -> Markup:
        """Decorative inline SVG: the text name is always given next to it."""
        return Markup(
            f'<svg class="{escape(css_class)}" viewBox="{escape(self.view_box)}" width="24"'
            f' height="24" fill="currentColor" aria-hidden="true" focusable="false">'
            f"{self.body}</svg>"
        )


def _serialize(element: Element, source: str) -> str:
    name = element.tag.removeprefix(SVG_NS)
    if name not in SHAPES:
        raise IconError(f"{source}: <{name}> is not allowed in an icon (only {sorted(SHAPES)})")
    attrs = []
    for key, value in element.attrib.items():
        if key not in ATTRIBUTES:
            raise IconError(f"{source}: attribute {key!r} on <{name}> is not allowed in an icon")
        if "url(" in value or "javascript:" in value.lower():
            raise IconError(f"{source}: {key}={value!r} may not reference anything")
        attrs.append(f' {key}="{escape(value)}"')
    children = "".join(_serialize(child, source) for child in element)
    return f"<{name}{''.join(attrs)}>{children}</{name}>"


def parse_icon(data: bytes, source: str, color: str | None = None) -> Icon:
    if len(data) > MAX_ICON_BYTES:
        raise IconError(f"{source}: icon is larger than {MAX_ICON_BYTES} bytes")
    try:
        root = ElementTree.fromstring(data)
    except Exception as exc:  # defusedxml raises several types for bad or hostile XML
        raise IconError(f"{source}: not a well-formed SVG file ({exc})") from None
    if root.tag.removeprefix(SVG_NS) != "svg":
        raise IconError(f"{source}: the root element must be <svg>")
    view_box = root.get("viewBox") or "0 0 24 24"
    parts = view_box.replace(",", " ").split()
    try:
        if len(parts) != 4 or [float(p) for p in parts][2:] <= [0, 0]:
            raise ValueError
    except ValueError:
        raise IconError(f"{source}: viewBox {view_box!r} is not four numbers") from None
    body = "".join(_serialize(child, source) for child in root
                   if child.tag.removeprefix(SVG_NS) not in ("title", "desc"))
    if not body:
        raise IconError(f"{source}: the SVG has no shapes")
    chosen = color or root.get("data-color") or "#4B5563"
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", chosen):
        raise IconError(f"{source}: color {chosen!r} is not of the form #RRGGBB")
    return Icon(" ".join(parts), body, chosen.upper())


@lru_cache(maxsize=32)
def bundled(name: str, color: str | None = None) -> Icon:
    path = ICON_DIR / f"{name}.svg"
    return parse_icon(path.read_bytes(), f"bundled icon {name!r}", color)


def bundled_names() -> list[str]:
    return sorted(p.stem for p in ICON_DIR.glob("*.svg"))


def load_custom(path: Path, color: str | None = None) -> Icon:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IconError(f"icon file {path} cannot be read ({exc.strerror})") from None
    return parse_icon(data, f"icon file {path}", color)
