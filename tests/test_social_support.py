"""Helpers for the social-channel tests: build the real project (content, theme,
pelicanconf.py) into a temporary folder with a follower-count file of the test's own.

It holds no tests itself; the name keeps it among the files of this feature.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sitebuilder import build_site

ROOT = Path(__file__).resolve().parents[1]


def write_counts(path: Path, entries: dict[str, tuple[int, datetime]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "channels": {
        name: {"followers": n, "fetched": when.isoformat()} for name, (n, when) in
        entries.items()}}), encoding="utf-8")
    return path


def default_counts(path: Path) -> Path:
    now = datetime.now(UTC)
    return write_counts(path, {
        "mastodon": (1086, now - timedelta(days=1)),
        "bluesky": (12345, now - timedelta(hours=3)),
        # Older than SOCIAL_COUNT_MAX_AGE_DAYS: must not be shown.
        "linkedin": (987654, now - timedelta(days=90)),
    })


def project_settings(out: Path, **override: Any) -> dict[str, Any]:
    from pelican.settings import read_settings

    values: dict[str, Any] = {
        "OUTPUT_PATH": str(out / "output"),
        "REPLIK_CACHE": str(out / "cache"),
        "CACHE_PATH": str(out / "pelican-cache"),
        "SOCIAL_COUNTS_FILE": str(out / "social_counts.json"),
        "SITEURL": "http://blog.test",
        "FEED_DOMAIN": "http://blog.test",
    }
    values.update(override)
    return read_settings(str(ROOT / "pelicanconf.py"), override=values)


def build_project(out: Path, counts: bool = True, **override: Any) -> Path:
    """Build the real project into ``out/output`` and return that folder."""
    if counts:
        default_counts(out / "social_counts.json")
    return build_site(project_settings(out, **override))


def css(element: Any, selector: str) -> list[Any]:
    """A small CSS subset as XPath (no cssselect needed): 'tag.class .class tag'."""
    xpath = "."
    for step in selector.split():
        tag, *classes = step.split(".")
        xpath += f"//{tag or '*'}"
        for cls in classes:
            xpath += f"[contains(concat(' ', normalize-space(@class), ' '), ' {cls} ')]"
    return element.xpath(xpath)
