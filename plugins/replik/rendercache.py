"""A persistent cache of rendered comment bodies, so unchanged comments are not
rendered again on every build.

It is only a cache: derived from the store, keyed by the text and the renderer's
version, safe to delete (``make clean`` does), and never the only copy of anything.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from markupsafe import Markup

from .render import RENDER_VERSION, body_key, render_body, render_excerpt

log = logging.getLogger(__name__)


class RenderCache:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        # Values are Markup already, so each node shares its cached string (no copy).
        self.items: dict[str, Markup] = {}
        self.used: set[str] = set()
        self.dirty = False

    @classmethod
    def load(cls, folder: Path | None) -> RenderCache:
        cache = cls(folder / f"render-v{RENDER_VERSION}.json" if folder else None)
        if cache.path is not None and cache.path.exists():
            try:
                data = json.loads(cache.path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    cache.items = {str(k): Markup(v) for k, v in data.items()}
            except (OSError, ValueError) as exc:
                log.warning("replik: ignoring unreadable render cache %s (%s)", cache.path, exc)
        return cache

    def render(self, text: str, linkback: bool = False) -> Markup:
        key = body_key(("L\0" if linkback else "C\0") + text)
        self.used.add(key)
        html = self.items.get(key)
        if html is None:
            html = render_excerpt(text) if linkback else render_body(text)
            self.items[key] = html
            self.dirty = True
        return html

    def save(self) -> None:
        """Write the cache (only the bodies used by this build) atomically."""
        if self.path is None:
            return
        if not self.dirty and len(self.used) == len(self.items):
            return
        keep = {k: v for k, v in self.items.items() if k in self.used}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            # Streamed into the file: no second copy of every body in memory.
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(keep, handle, ensure_ascii=False)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("replik: could not write the render cache %s (%s)", self.path, exc)
