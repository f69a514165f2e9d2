"""Follower counts: the data file, their age, and their wording in the site's language.

The data file (``SOCIAL_COUNTS_FILE``, JSON) is written only by ``replik social``
and read by the build, which never reaches the network::

    {"version": 1, "channels": {"mastodon": {"followers": 1086,
                                             "fetched": "2026-11-25T14:00:00+00:00"}}}

A count older than ``SOCIAL_COUNT_MAX_AGE_DAYS``, or missing, is left out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from babel.numbers import format_compact_decimal, format_decimal

from replik.files import write_atomic
from replik.render import as_aware
from replik.settings import Settings, project_path

from .channels import Channel

log = logging.getLogger(__name__)
VERSION = 1


class CountsFileError(ValueError):
    """The data file exists but cannot be used."""


def counts_path(settings: dict[str, Any]) -> Path:
    return project_path(Settings.of(settings), str(settings["SOCIAL_COUNTS_FILE"]))


def _parse_time(value: Any) -> datetime | None:
    try:
        return as_aware(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def read_counts(path: Path) -> dict[str, dict[str, Any]]:
    """{channel name: {"followers": int, "fetched": datetime}}; bad entries are skipped.

    Raises CountsFileError for a file that is not our JSON (the CLI must not
    overwrite it); a missing file is simply empty.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CountsFileError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("channels"), dict):
        raise CountsFileError(f"{path} has no 'channels' object; is it the follower-count file?")
    result: dict[str, dict[str, Any]] = {}
    for name, entry in raw["channels"].items():
        if not isinstance(entry, dict):
            continue
        count, fetched = entry.get("followers"), _parse_time(entry.get("fetched"))
        if isinstance(count, bool) or not isinstance(count, int) or count < 0 or fetched is None:
            log.warning("social_badges: %s: entry %r is malformed and ignored", path, name)
            continue
        extra = {k: v for k, v in entry.items() if k not in ("followers", "fetched")}
        result[str(name)] = {**extra, "followers": count, "fetched": fetched}
    return result


def write_counts(path: Path, counts: dict[str, dict[str, Any]]) -> None:
    """Replace the whole file atomically."""
    channels = {name: {**entry, "fetched": entry["fetched"].astimezone(UTC).isoformat(
        timespec="seconds")} for name, entry in counts.items()}  # sorted by json.dumps
    data = json.dumps({"version": VERSION, "channels": channels}, indent=2, ensure_ascii=False,
                      sort_keys=True) + "\n"
    write_atomic(path, data)


def current_count(channel: Channel, counts: dict[str, dict[str, Any]], max_age_days: float,
                  now: datetime | None = None) -> int | None:
    """The newest count not older than max_age_days (data file or configuration), or None."""
    now = now or datetime.now(UTC)
    limit = timedelta(days=max_age_days)
    candidates = []
    entry = counts.get(channel.name)
    if entry:
        candidates.append((entry["fetched"], entry["followers"]))
    if channel.followers is not None and channel.followers_date is not None:
        candidates.append((channel.followers_date, channel.followers))
    # An hour into the future is tolerated (clock skew between machines).
    fresh = [(when, n) for when, n in candidates if -timedelta(hours=1) <= now - when <= limit]
    return max(fresh)[1] if fresh else None


def short_number(count: int, locale: str, shorten_from: int,
                 gettext: Callable[[str], str]) -> str:
    """'1.086' / '1,086' in full; from shorten_from on '12,3 Tsd.' / '12.3K'."""
    if count < shorten_from:
        return format_decimal(count, locale=locale)
    text = format_compact_decimal(count, locale=locale, fraction_digits=1)
    if any(ch.isalpha() for ch in text):
        return text
    # CLDR has no short form for thousands in some languages (German among them).
    number = format_decimal(round(count / 1000, 1), format="#,##0.#", locale=locale)
    return gettext("%(number)s K") % {"number": number}


def followers_text(count: int, locale: str, shorten_from: int,
                   translations: Any) -> str:
    """'1.086 Follower' (de), '1,086 followers' (en), '12,3 Tsd. Follower'."""
    number = short_number(count, locale, shorten_from, translations.gettext)
    # Plural form by the real count: "1 follower", "12.3K followers".
    template = translations.ngettext("%(number)s follower", "%(number)s followers", count)
    return template % {"number": number}
