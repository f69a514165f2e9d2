"""Fetch public follower counts (Mastodon, Bluesky) and store them in the data file.

Only networks that publish counts without an API key are asked: Mastodon's
account lookup on the account's own server, and Bluesky's public
``app.bsky.actor.getProfile``. Every request goes through ``replik.fetch`` (its
address checks, timeouts and size limits). A failure is reported for that channel
and keeps the channel's previous entry, which ages out by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from replik.fetch import FetchError, fetch
from replik.settings import Settings

from .channels import Channel
from .counts import counts_path, read_counts, write_counts

MAX_ANSWER_BYTES = 256 * 1024


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str  # "ok", "failed" or "skipped"
    message: str


def fetch_followers(channel: Channel, settings: dict[str, Any]) -> tuple[int, str]:
    """The count in the channel's Mastodon account or Bluesky profile, and the address
    it was read from; raises FetchError or ValueError with a message for people."""
    if channel.lookup is None:
        raise ValueError(f"{channel.label} offers no public follower count")
    kind, target = channel.lookup
    if kind == "mastodon":
        origin, expected = target.split("|", 1)
        url = f"{origin}/api/v1/accounts/lookup?acct={quote(expected, safe='')}"
        field, name_key = "followers_count", "username"
    else:
        api = str(settings["SOCIAL_BLUESKY_API"]).rstrip("/")
        url = f"{api}/xrpc/app.bsky.actor.getProfile?actor={quote(target, safe='')}"
        expected, field, name_key = target, "followersCount", "handle"
    result = fetch(url, Settings.of(settings), accept_types=("application/json",),
                   max_bytes=MAX_ANSWER_BYTES)
    if result.status != 200:
        hint = " (account not found)" if result.status == 404 else ""
        raise FetchError(f"{url} answered HTTP {result.status}{hint}")
    try:
        answer = json.loads(result.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{url} did not answer with valid JSON") from None
    if not isinstance(answer, dict):
        raise ValueError(f"{url}: the answer is not a JSON object")
    name = answer.get(name_key)
    if isinstance(name, str) and name.lower() != expected.lower():
        raise ValueError(f"{url}: the answer is about {name!r}, not {expected!r}")
    count = answer.get(field)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"{url}: the answer has no valid {field}")
    return count, url


def refresh(settings: dict[str, Any], channels: list[Channel], only: set[str] | None = None
            ) -> list[Outcome]:
    """Refresh the counts of ``channels`` (or those named in ``only``) and write the file;
    ``settings`` with the badges' defaults (``with_defaults``).

    Raises CountsFileError when the existing file is not ours to rewrite.
    """
    path = counts_path(settings)
    counts = read_counts(path)
    outcomes: list[Outcome] = []
    for channel in channels:
        if only is not None and channel.name not in only:
            continue
        if channel.lookup is None:
            why = (f"{channel.label} offers no public count; record one with"
                   f" `replik social set {channel.name} COUNT`")
            outcomes.append(Outcome(channel.name, "skipped", why))
            continue
        try:
            count, url = fetch_followers(channel, settings)
        except (FetchError, ValueError) as exc:
            outcomes.append(Outcome(channel.name, "failed", str(exc)))
            continue
        counts[channel.name] = {"followers": count, "fetched": datetime.now(UTC),
                                "source": url}
        outcomes.append(Outcome(channel.name, "ok", f"{count} followers"))
    if any(outcome.status == "ok" for outcome in outcomes):
        write_counts(path, counts)
    return outcomes


def set_count(settings: dict[str, Any], channel: Channel, count: int) -> None:
    """Record a count by hand (networks without a public count)."""
    path = counts_path(settings)
    counts = read_counts(path)
    counts[channel.name] = {"followers": count, "fetched": datetime.now(UTC),
                            "source": "manual"}
    write_counts(path, counts)
