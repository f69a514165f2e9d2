"""The one settings reader: pelicanconf.py through Pelican's own reader, plus our defaults.

Both the build (the Pelican plugin) and the server/CLI read settings here, so a
``REPLIK_*`` value means the same thing everywhere. Secrets never live here:
they come from the environment (see ``secret()``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPLIK_DEFAULTS: dict[str, Any] = {
    # Where the comment store lives, relative to the project (pelicanconf.py's folder).
    "REPLIK_STORE": "comments",
    # The state file (login attempts, desk sessions, used mail links, the webmention
    # queue, sent linkbacks, rebuild status): "" = state.sqlite3 in REPLIK_STORE.
    # Not a cache: keep it with the store.
    "REPLIK_STATE": "",
    # Where derived caches (thread cache, indexes, flood counters) live; safe to delete.
    "REPLIK_CACHE": ".replik-cache",
    # The path the comment form posts to (served by the intake app).
    "REPLIK_INTAKE_URL": "/replik/comment",
    "REPLIK_PREVIEW_URL": "/replik/preview",
    "REPLIK_PINGBACK_URL": "/replik/pingback",
    "REPLIK_WEBMENTION_URL": "/replik/webmention",
    "REPLIK_TRACKBACK_URL": "/replik/trackback",
    "REPLIK_MODERATE_URL": "/moderate",
    # Post dates with Babel in the site's language ("5. März 2010") instead of strftime.
    "REPLIK_BABEL_DATES": True,
    # Threads nest up to this depth; deeper replies attach at the deepest level.
    "REPLIK_MAX_DEPTH": 5,
    # Close comments on posts older than this many days (0 = never).
    "REPLIK_CLOSE_AFTER_DAYS": 0,
    # Fields a reader must fill in.
    "REPLIK_REQUIRED_FIELDS": ["author", "body"],
    "REPLIK_MAX_LENGTH": 10000,
    "REPLIK_MAX_NAME_LENGTH": 100,
    # Local spam rules (mirroring WordPress's discussion settings).
    "REPLIK_HOLD_LINKS": 2,
    "REPLIK_MODERATION_KEYS": [],
    "REPLIK_DISALLOWED_KEYS": [],
    "REPLIK_AUTO_APPROVE_KNOWN": False,
    "REPLIK_FLOOD_PER_MINUTE": 5,
    # Comment feeds.
    "REPLIK_FEED_LATEST": "feeds/comments.atom.xml",
    "REPLIK_FEED_LATEST_RSS": "feeds/comments.rss.xml",
    "REPLIK_FEED_ARTICLE": "feeds/comments/{slug}.atom.xml",
    "REPLIK_FEED_ARTICLE_RSS": "feeds/comments/{slug}.rss.xml",
    "REPLIK_FEED_LATEST_COUNT": 50,
    # An article's comment feeds hold its newest this many entries (0: all of them).
    # Like Isso's [rss] limit: a reader polls the feed, the page has the whole thread.
    "REPLIK_FEED_ARTICLE_COUNT": 100,
    # Staff answers count as late after this many hours (dialogue report).
    "REPLIK_ANSWER_WITHIN": 24,
    # Moderator accounts: name -> environment variable holding the password hash.
    "REPLIK_MODERATORS": {},
    # The name each moderator's staff replies are signed with on the site (login ->
    # name); without one, the site's AUTHOR signs (login names never appear).
    "REPLIK_MODERATOR_NAMES": {},
    # The name that replaces a forgotten person's (replik forget); "" = "Gelöschter Nutzer".
    "REPLIK_FORGOTTEN_NAME": "",
    # Outbound requests: hosts allowed despite private addresses (intranet, tests).
    "REPLIK_FETCH_ALLOW_PRIVATE": [],
    "REPLIK_FETCH_TIMEOUT": 5.0,
    # Strict-Transport-Security sent on every answer that came over https ("" = none).
    "REPLIK_HSTS": "max-age=31536000",
    # Reply notifications to readers (double opt-in; docs/notifications.md).
    "REPLIK_NOTIFY_READERS": True,
    # At most one mail per subscriber and thread in this many minutes (a digest).
    "REPLIK_NOTIFY_BATCH_MINUTES": 10,
    # Tries per mail before it is given up (SMTP errors), with a growing delay.
    "REPLIK_NOTIFY_MAX_ATTEMPTS": 8,
    "REPLIK_SUBSCRIBE_URL": "/replik/subscribe",
    "REPLIK_UNSUBSCRIBE_URL": "/replik/unsubscribe",
    # Shell command run after each rebuild by the moderation desk (e.g. rsync).
    "REPLIK_PUBLISH_HOOK": "",
}


def with_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """Return ``settings`` with every REPLIK_* default filled in (not overriding)."""
    merged = dict(settings)
    for key, value in REPLIK_DEFAULTS.items():
        merged.setdefault(key, value)
    return merged


def load_settings(
    path: str | os.PathLike[str] = "pelicanconf.py", override: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read a Pelican configuration file the way Pelican does, with our defaults."""
    from pelican.settings import read_settings

    conf = Path(path).resolve()
    if not conf.is_file():
        raise FileNotFoundError(
            f"{conf} not found: run this from the blog's folder or pass --settings"
        )
    # Pelican resolves relative paths (PATH, OUTPUT_PATH, THEME) against the file.
    settings = read_settings(str(conf), override=override)
    settings = with_defaults(settings)
    settings["REPLIK_PROJECT_ROOT"] = str(conf.parent)
    return settings


def project_path(settings: dict[str, Any], value: str) -> Path:
    """Resolve a project-relative path from settings (absolute paths stay)."""
    root = Path(settings.get("REPLIK_PROJECT_ROOT") or Path(settings["PATH"]).parent)
    candidate = Path(value)
    return candidate if candidate.is_absolute() else root / candidate


def store_path(settings: dict[str, Any]) -> Path:
    return project_path(settings, settings["REPLIK_STORE"])


def cache_path(settings: dict[str, Any]) -> Path:
    return project_path(settings, settings["REPLIK_CACHE"])


def secret(name: str, default: str = "") -> str:
    """Secrets come only from the environment."""
    return os.environ.get(name, default)
