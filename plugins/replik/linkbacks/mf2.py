"""Microformats2 (mf2py): who wrote the linking post, its name and content, and its kind.

The kind follows the IndieWeb's post-type discovery for responses: ``in-reply-to``
naming our post makes a reply, ``like-of`` a like, ``repost-of`` a repost, and
anything else that links to us is a mention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mf2py

from .html import clean, normalize_source, same_url

_KIND_PROPERTIES = (("in-reply-to", "reply"), ("like-of", "like"), ("repost-of", "repost"))


@dataclass
class Mf2Info:
    kind: str = "mention"
    name: str = ""  # the post's explicit name (title), "" for notes
    content: str = ""  # the post's text (no markup)
    author_name: str = ""
    author_url: str = ""
    author_photo: str = ""
    url: str = ""  # the post's own permalink (u-url)


def _urls(values: list[Any]) -> list[str]:
    """URLs from property values that are strings or embedded h-cite/h-entry objects."""
    found: list[str] = []
    for value in values:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            props = value.get("properties", {})
            found.extend(v for v in props.get("url", []) if isinstance(v, str))
            if isinstance(value.get("value"), str):
                found.append(value["value"])
    return found


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("value", "")
    return clean(str(value)) if isinstance(value, str) else ""


def _photo(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("value", "")
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) else ""


def _entries(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every h-entry, top-level or nested (e.g. inside an h-feed), in document order."""
    found: list[dict[str, Any]] = []
    for item in items:
        if "h-entry" in item.get("type", []):
            found.append(item)
        found.extend(_entries(item.get("children", [])))
    return found


def _pick_entry(entries: list[dict[str, Any]], source: str) -> dict[str, Any] | None:
    """The entry whose u-url is the source, fragment included: on a post's page the
    comments are nested h-entries with u-urls like ``post#comment-3``, and none of
    them is the post. Without a match, the page's first entry (the post)."""
    key = normalize_source(source)
    for entry in entries:
        if any(normalize_source(u) == key for u in _urls(entry["properties"].get("url", []))):
            return entry
    return entries[0] if entries else None


def _author(entry: dict[str, Any], items: list[dict[str, Any]]) -> tuple[str, str, str]:
    values = entry["properties"].get("author", [])
    card: Any = values[0] if values else None
    if card is None:
        # The page's own h-card stands in for the author (authorship algorithm, simplified).
        card = next((i for i in items if "h-card" in i.get("type", [])), None)
    if isinstance(card, str):
        is_url = card.startswith(("http://", "https://"))
        return ("" if is_url else clean(card)), (card if is_url else ""), ""
    if not isinstance(card, dict):
        return "", "", ""
    props = card.get("properties", {})
    name = _text((props.get("name") or [""])[0]) or _text(card.get("value", ""))
    url = next((u for u in _urls(props.get("url", [])) if u.startswith(("http", "https"))), "")
    photo = _photo((props.get("photo") or [""])[0])
    return name[:200], url, photo


def parse(html: str, source: str, target: str) -> Mf2Info:
    """What the microformats on the linking page say about it (defaults if none)."""
    try:
        data = mf2py.parse(doc=html, url=source)
    except Exception:  # noqa: BLE001 - broken markup means "no microformats", not an error
        return Mf2Info()
    items = data.get("items", [])
    entry = _pick_entry(_entries(items), source)
    if entry is None:
        return Mf2Info()
    props = entry.get("properties", {})
    info = Mf2Info()
    for prop, kind in _KIND_PROPERTIES:
        if any(same_url(u, target) for u in _urls(props.get(prop, []))):
            info.kind = kind
            break
    content = _text((props.get("content") or [""])[0])
    name = _text((props.get("name") or [""])[0])
    # A note's implied name is its content; only an explicit, different name is a title.
    if name and name != content and not content.startswith(name):
        info.name = name[:300]
    info.content = content
    info.author_name, info.author_url, info.author_photo = _author(entry, items)
    info.url = next(iter(_urls(props.get("url", []))), "")
    return info
