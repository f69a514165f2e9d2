"""Write the store as a WordPress export (WXR 1.2) that WordPress's importer reads.

The document is built in memory (comment stores are small next to RAM). One
``<item>`` per article that has entries, each entry a ``<wp:comment>`` with
WordPress's fields; comment ids are the original WordPress ids where an entry
came from WordPress (and they are free), else new numbers. Comment text is the
HTML our renderer makes of it (WordPress stores comments as HTML).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import IO, Any

from lxml import etree

from ..importers.articles import ArticleInfo
from ..render import render_body
from ..settings import Settings
from ..store import Entry, Store

WP = "http://wordpress.org/export/1.2/"
NSMAP = {
    "excerpt": "http://wordpress.org/export/1.2/excerpt/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "wfw": "http://wellformedweb.org/CommentAPI/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "wp": WP,
}
APPROVED = {"approved": "1", "pending": "0", "spam": "spam", "trash": "trash"}
_WP_DATE = "%Y-%m-%d %H:%M:%S"


def _sub(parent: Any, tag: str, text: str = "", cdata: bool = False) -> Any:
    prefix, _, local = tag.rpartition(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{local}" if prefix else local)
    if text:
        # WordPress writes text as CDATA; a "]]>" inside cannot be, so it is escaped.
        element.text = etree.CDATA(text) if cdata and "]]>" not in text else text
    return element


def _local(entry: Entry) -> datetime:
    try:  # "+02:00": strptime's %z takes it
        zone = datetime.strptime(entry.extra.get("Original-Offset", ""), "%z").tzinfo
    except ValueError:
        zone = UTC
    return entry.date.astimezone(zone)


def _numbers(entries: list[Entry]) -> dict[str, int]:
    """WordPress comment ids: the original ones where possible, then fresh ones."""
    numbers: dict[str, int] = {}
    used: set[int] = set()
    for entry in entries:
        original = entry.extra.get("WP-Comment-Id", "")
        if original.isdigit() and int(original) not in used:
            numbers[entry.id] = int(original)
            used.add(int(original))
    following = max(used, default=0) + 1
    for entry in entries:
        if entry.id not in numbers:
            numbers[entry.id] = following
            following += 1
    return numbers


def export_wxr(store: Store, out: IO[bytes], settings: Settings,
               articles: list[ArticleInfo]) -> int:
    """Write the WXR document; returns how many comments it holds."""
    by_article: dict[str, list[Entry]] = defaultdict(list)
    for entry in store.all_entries(on_error="raise"):
        by_article[entry.article].append(entry)
    everything = sorted((e for group in by_article.values() for e in group), key=lambda e: e.id)
    numbers = _numbers(everything)
    known = {a.slug: a for a in articles}
    site = settings.siteurl.rstrip("/")
    rss = etree.Element("rss", version="2.0", nsmap=NSMAP)
    channel = etree.SubElement(rss, "channel")
    _sub(channel, "title", settings.sitename)
    _sub(channel, "link", site)
    _sub(channel, "language", settings.lang)
    _sub(channel, "wp:wxr_version", "1.2")
    _sub(channel, "wp:base_site_url", site)
    _sub(channel, "wp:base_blog_url", site)
    for post_id, slug in enumerate(sorted(by_article), start=1):
        entries = sorted(by_article[slug], key=lambda e: (e.date, e.id))
        channel.append(_item(post_id, slug, entries, known.get(slug), site, numbers))
    etree.ElementTree(rss).write(out, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return len(everything)


def _item(post_id: int, slug: str, entries: list[Entry], info: ArticleInfo | None, site: str,
          numbers: dict[str, int]) -> Any:
    item = etree.Element("item")
    title = info.title if info else slug
    link = f"{site}/{info.url}" if info else f"{site}/{slug}/"
    date = info.date if info and info.date else entries[0].date
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    _sub(item, "title", title)
    _sub(item, "link", link)
    _sub(item, "dc:creator", "", cdata=True)
    _sub(item, "content:encoded", "", cdata=True)
    _sub(item, "wp:post_id", str(post_id))
    _sub(item, "wp:post_date", date.strftime(_WP_DATE), cdata=True)
    _sub(item, "wp:post_date_gmt", date.astimezone(UTC).strftime(_WP_DATE), cdata=True)
    _sub(item, "wp:comment_status", "open", cdata=True)
    _sub(item, "wp:ping_status", "open", cdata=True)
    _sub(item, "wp:post_name", slug, cdata=True)
    _sub(item, "wp:status", "publish", cdata=True)
    _sub(item, "wp:post_parent", "0")
    _sub(item, "wp:menu_order", "0")
    _sub(item, "wp:post_type", "page" if info and info.kind == "page" else "post", cdata=True)
    for entry in entries:
        _comment(item, entry, numbers)
    return item


def _comment(item: Any, entry: Entry, numbers: dict[str, int]) -> None:
    node = _sub(item, "wp:comment")
    local = _local(entry)
    _sub(node, "wp:comment_id", str(numbers[entry.id]))
    author = entry.title or entry.author if entry.is_linkback else entry.author
    _sub(node, "wp:comment_author", author, cdata=True)
    _sub(node, "wp:comment_author_email", entry.email, cdata=True)
    _sub(node, "wp:comment_author_url", entry.source or entry.url)
    _sub(node, "wp:comment_author_IP", entry.ip, cdata=True)
    _sub(node, "wp:comment_date", local.strftime(_WP_DATE), cdata=True)
    _sub(node, "wp:comment_date_gmt", entry.date.astimezone(UTC).strftime(_WP_DATE), cdata=True)
    content = (f"[&#8230;] {entry.body} [&#8230;]" if entry.is_linkback
               else str(render_body(entry.body)))
    _sub(node, "wp:comment_content", content, cdata=True)
    _sub(node, "wp:comment_approved", APPROVED[entry.state], cdata=True)
    _sub(node, "wp:comment_type", "comment" if entry.type == "comment" else entry.type,
         cdata=True)
    parent = numbers.get(entry.reply_to, 0) if entry.reply_to else 0
    _sub(node, "wp:comment_parent", str(parent))
    _sub(node, "wp:comment_user_id", entry.extra.get("WP-User-Id", "0"))


