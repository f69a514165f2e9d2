"""SOCIAL_CHANNELS: the networks we know, and validation of the configured channels.

Each channel is a dict in ``pelicanconf.py``; ``parse_channels`` turns the list
into ``Channel`` objects or raises ``ChannelConfigError`` naming the channel and
saying what to change. Nothing here reaches the network.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from replik.render import as_aware
from replik.settings import Settings, project_path

from .icons import Icon, IconError, bundled, load_custom

SOCIAL_DEFAULTS: dict[str, Any] = {
    "SOCIAL_CHANNELS": [],
    # Follower counts written by `replik social refresh` / `replik social set`.
    "SOCIAL_COUNTS_FILE": "data/social_counts.json",
    # Counts older than this are left out rather than shown wrong.
    "SOCIAL_COUNT_MAX_AGE_DAYS": 30,
    # Counts from this value up are shortened ("12,3 Tsd.").
    "SOCIAL_COUNT_SHORTEN_FROM": 10_000,
    # Footer at the end of every post-feed entry: True, False, or a text with {links}.
    "SOCIAL_FEED_FOOTER": True,
    # Channel links at feed level (<link rel="related">) in the post feeds.
    "SOCIAL_FEED_LINKS": True,
    # Where the standalone SVG badges go in the output.
    "SOCIAL_BADGES_PATH": "badges",
    # The channels page with embed snippets ("" turns it off).
    "SOCIAL_CHANNELS_PAGE_URL": "channels/",
    "SOCIAL_CHANNELS_PAGE_SAVE_AS": "channels/index.html",
    # Bluesky's public AppView (no API key needed).
    "SOCIAL_BLUESKY_API": "https://public.api.bsky.app",
}

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
KEYS = {"network", "name", "handle", "url", "label", "cta", "icon", "color",
        "followers", "followers_date"}


class ChannelConfigError(ValueError):
    """A channel in SOCIAL_CHANNELS that cannot be used as configured."""


@dataclass(frozen=True)
class Network:
    label: str
    handle_re: re.Pattern[str] | None = None
    handle_hint: str = ""
    url_for: Callable[[re.Match[str]], str] | None = None
    display: Callable[[re.Match[str]], str] | None = None


DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"

NETWORKS: dict[str, Network] = {
    "mastodon": Network(
        "Mastodon", re.compile(rf"^@?([A-Za-z0-9_]{{1,30}})@({DOMAIN})$"), "@name@server.example",
        lambda m: f"https://{m[2].lower()}/@{m[1]}", lambda m: f"@{m[1]}@{m[2].lower()}"),
    "bluesky": Network(
        "Bluesky", re.compile(rf"^@?({DOMAIN})$"), "name.bsky.social",
        lambda m: f"https://bsky.app/profile/{m[1].lower()}", lambda m: f"@{m[1].lower()}"),
    "x": Network(
        "X", re.compile(r"^@?([A-Za-z0-9_]{1,15})$"), "@name (up to 15 letters, digits or _)",
        lambda m: f"https://x.com/{m[1]}", lambda m: f"@{m[1]}"),
    "linkedin": Network(
        "LinkedIn", re.compile(r"^(company|in|showcase)/([A-Za-z0-9-]{2,100})$"), "company/name",
        lambda m: f"https://www.linkedin.com/{m[1]}/{m[2]}/", lambda m: m[2]),
    "youtube": Network(
        "YouTube", re.compile(r"^@([A-Za-z0-9._-]{3,30})$"), "@name",
        lambda m: f"https://www.youtube.com/@{m[1]}", lambda m: f"@{m[1]}"),
    "facebook": Network(
        "Facebook", re.compile(r"^@?([A-Za-z0-9.]{5,50})$"), "pagename",
        lambda m: f"https://www.facebook.com/{m[1]}", lambda m: m[1]),
    "instagram": Network(
        "Instagram", re.compile(r"^@?([A-Za-z0-9._]{1,30})$"), "@name",
        lambda m: f"https://www.instagram.com/{m[1]}/", lambda m: f"@{m[1]}"),
    "threads": Network(
        "Threads", re.compile(r"^@?([A-Za-z0-9._]{1,30})$"), "@name",
        lambda m: f"https://www.threads.net/@{m[1]}", lambda m: f"@{m[1]}"),
    "rss": Network("RSS"),
    "newsletter": Network("Newsletter"),
}


@dataclass(frozen=True)
class Channel:
    name: str  # unique id: badge file name, data-file key
    network: str  # a key of NETWORKS, or "custom"
    label: str
    url: str
    handle: str  # as displayed ("@name@server"), or ""
    cta: str  # call to action, or "" for the translated default
    icon: Icon
    followers: int | None = None  # count given in the configuration …
    followers_date: datetime | None = None  # … and when it was counted
    lookup: tuple[str, str] | None = None  # (kind, target) for `replik social refresh`


def _absolute_url(value: Any, where: str, field: str = "url") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ChannelConfigError(f"{where}: {field} must be an absolute http(s) URL")
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelConfigError(
            f"{where}: {field} {value!r} is not an absolute http(s) URL (e.g. https://…)")
    if any(c.isspace() or c in "<>\"'" for c in value):
        raise ChannelConfigError(f"{where}: {field} {value!r} contains characters not allowed")
    return value


def _site_feed_url(settings: dict[str, Any]) -> str | None:
    feed = settings.get("FEED_ALL_ATOM") or settings.get("FEED_ALL_RSS")
    base = str(settings.get("FEED_DOMAIN") or settings.get("SITEURL") or "").rstrip("/")
    if not feed:
        return None
    # Without a SITEURL (a local preview) the feed is linked from the site root.
    return f"{base}/{str(feed).lstrip('/')}"


def _followers(raw: dict[str, Any], where: str) -> tuple[int | None, datetime | None]:
    count, counted = raw.get("followers"), raw.get("followers_date")
    if count is None and counted is None:
        return None, None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ChannelConfigError(f"{where}: followers must be a whole number ≥ 0, not {count!r}")
    if counted is None:
        raise ChannelConfigError(
            f"{where}: followers needs followers_date (the day it was counted, e.g. "
            f"'2026-11-20'), so that an old count is not shown as current")
    try:  # a date, a datetime, or either written out (str() writes both as ISO 8601)
        when = datetime.fromisoformat(str(counted))
    except ValueError:
        raise ChannelConfigError(
            f"{where}: followers_date {counted!r} is not a date like '2026-11-20'") from None
    return count, as_aware(when)


def parse_channel(raw: Any, index: int, settings: dict[str, Any]) -> Channel:
    if not isinstance(raw, dict):
        raise ChannelConfigError(f"SOCIAL_CHANNELS[{index}] must be a dict, not {raw!r}")
    network = str(raw.get("network") or "").strip().lower()
    where = f"SOCIAL_CHANNELS[{index}] ({raw.get('name') or network or 'no network'})"
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise ChannelConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(KEYS))}")
    if not network:
        raise ChannelConfigError(f"{where}: network is missing")
    if network != "custom" and network not in NETWORKS:
        raise ChannelConfigError(
            f"{where}: unknown network {network!r}; use one of {', '.join(NETWORKS)}, or"
            f" network 'custom' with a label, a url and an icon file")
    name = str(raw.get("name") or network)
    if not NAME_RE.match(name):
        raise ChannelConfigError(
            f"{where}: name {name!r} must be lower-case letters, digits and '-' (it names"
            f" the badge file)")
    spec = NETWORKS.get(network, Network(""))
    handle_raw = raw.get("handle")
    handle, url, match = "", None, None
    if handle_raw not in (None, ""):
        if spec.handle_re is None:
            raise ChannelConfigError(
                f"{where}: a {network} channel has no handle; give its url instead")
        match = spec.handle_re.match(str(handle_raw).strip())
        if match is None:
            raise ChannelConfigError(
                f"{where}: handle {handle_raw!r} is not a valid {spec.label} handle"
                f" (expected {spec.handle_hint})")
        handle = spec.display(match) if spec.display else str(handle_raw)
        url = spec.url_for(match) if spec.url_for else None
    if raw.get("url") not in (None, ""):
        url = _absolute_url(raw["url"], where)
    elif network == "rss":
        url = _site_feed_url(settings)
    if url is None:
        need = "url" if spec.handle_re is None else f"handle ({spec.handle_hint}) or url"
        raise ChannelConfigError(f"{where}: the URL is missing; give its {need}")
    lookup = None  # where `replik social refresh` asks for the count
    if match and network == "mastodon":  # the account's own server: the profile's origin
        lookup = ("mastodon", f"{urlsplit(url).scheme}://{urlsplit(url).netloc}|{match[1]}")
    elif match and network == "bluesky":
        lookup = ("bluesky", match[1].lower())
    label = str(raw.get("label") or spec.label).strip()
    if not label:
        raise ChannelConfigError(f"{where}: a custom channel needs a label")
    icon_path = raw.get("icon")
    color = str(raw["color"]) if raw.get("color") else None
    try:
        if icon_path:
            icon = load_custom(Path(project_path(Settings.of(settings), str(icon_path))), color)
        elif network == "custom":
            raise ChannelConfigError(
                f"{where}: a custom channel needs an icon (an SVG file, path relative to"
                f" pelicanconf.py)")
        else:
            icon = bundled(network, color)
    except IconError as exc:
        raise ChannelConfigError(f"{where}: {exc}") from None
    followers, followers_date = _followers(raw, where)
    return Channel(
        name=name, network=network, label=label, url=url, handle=handle,
        cta=str(raw.get("cta") or "").strip(), icon=icon, followers=followers,
        followers_date=followers_date, lookup=lookup,
    )


def parse_channels(settings: dict[str, Any]) -> list[Channel]:
    """All configured channels in order, or ChannelConfigError for the first bad one."""
    raw = settings.get("SOCIAL_CHANNELS") or []
    if not isinstance(raw, list | tuple):
        raise ChannelConfigError("SOCIAL_CHANNELS must be a list of dicts")
    channels: list[Channel] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        channel = parse_channel(item, index, settings)
        if channel.name in seen:
            raise ChannelConfigError(
                f"SOCIAL_CHANNELS[{index}] ({channel.name}): the name {channel.name!r} is"
                f" already used by SOCIAL_CHANNELS[{seen[channel.name]}]; give one of them"
                f" its own name, e.g. name='{channel.network}-2'")
        seen[channel.name] = index
        channels.append(channel)
    return channels


def with_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    return {**SOCIAL_DEFAULTS, **settings}
