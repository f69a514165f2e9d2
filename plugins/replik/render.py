"""Comment bodies to safe HTML, and dates in the site's language.

The chain: a Markdown subset -> bare URLs made clickable -> nh3 (ammonia) as the
allowlist gate. nh3 is the last step, so whatever the earlier steps produce,
no script, event handler or javascript:/vbscript:/data: URL reaches a page.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as etree
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

import markdown
import nh3
from babel.dates import format_date, format_time, get_datetime_format
from markdown.inlinepatterns import InlineProcessor
from markupsafe import Markup

#: Bumped whenever the output of render_body changes, so caches are invalidated.
RENDER_VERSION = "1"

ALLOWED_TAGS = {"p", "br", "em", "strong", "a", "blockquote", "code", "pre", "ul", "ol", "li"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow ugc"

# A bare http(s) or www. address; trailing punctuation is not part of it.
_BARE_URL = r"(?<![\w/@.])((?:https?://|www\.)[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}])"


class _BareUrlProcessor(InlineProcessor):
    # Never linkify inside an existing link.
    ANCESTOR_EXCLUDES = ("a",)

    def handleMatch(self, m: re.Match[str], data: str):  # type: ignore[override]
        url = m.group(1)
        href = url if "://" in url else "https://" + url
        element = etree.Element("a")
        element.set("href", href)
        element.text = url
        return element, m.start(0), m.end(0)


class _CommentExtension(markdown.Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (API name)
        # Readers type line breaks and expect them kept (like WordPress and Isso).
        md.inlinePatterns.register(
            markdown.inlinepatterns.SubstituteTagInlineProcessor(r"\n", "br"), "linebreak", 5
        )
        md.inlinePatterns.register(_BareUrlProcessor(_BARE_URL, md), "bareurl", 6)
        # Headings, tables of contents, images and raw HTML are not part of the subset.
        md.parser.blockprocessors.deregister("hashheader")
        md.parser.blockprocessors.deregister("setextheader")
        md.parser.blockprocessors.deregister("hr")
        md.inlinePatterns.deregister("image_link")
        md.inlinePatterns.deregister("image_reference")
        md.inlinePatterns.deregister("short_image_ref")
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def _make_markdown() -> markdown.Markdown:
    return markdown.Markdown(extensions=[_CommentExtension()], output_format="html")


_md = _make_markdown()


_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes=URL_SCHEMES,
    # A relative link in a comment would point into our own site: never useful.
    url_relative="deny",
    link_rel=LINK_REL,
    strip_comments=True,
)


def sanitize(html: str) -> str:
    """The last gate: keep only the allowlisted tags, attributes and URL schemes."""
    return _cleaner.clean(html)


@lru_cache(maxsize=4096)
def _render(text: str) -> str:
    _md.reset()
    # With the raw-HTML processors removed, Markdown escapes any tag a reader types.
    return sanitize(_md.convert(text))


def render_body(text: str) -> Markup:
    """A comment's text as safe HTML."""
    return Markup(_render(text.replace("\r\n", "\n").replace("\r", "\n")))


def render_excerpt(text: str) -> Markup:
    """A linkback excerpt: plain text, shown as "[…] excerpt […]"."""
    clean = " ".join(text.split())
    return Markup(sanitize(Markup("<p>[…] {} […]</p>").format(clean)))


def body_key(text: str) -> str:
    """A stable key for caching a rendered body."""
    return hashlib.sha1((RENDER_VERSION + "\0" + text).encode("utf-8")).hexdigest()


# CLDR's "atTime" patterns ("5. März 2010 um 11:47"); Babel ships only the comma form.
_AT_TIME = {"de": "{1} 'um' {0}", "en": "{1} 'at' {0}", "fr": "{1} 'à' {0}"}


@lru_cache(maxsize=16)
def _datetime_pattern(locale: str) -> str:
    pattern = _AT_TIME.get(locale.split("_")[0]) or str(get_datetime_format("long", locale=locale))
    return pattern.replace("'", "")


@lru_cache(maxsize=8192)
def _date_part(day: date, locale: str) -> str:
    return format_date(day, "long", locale=locale)


@lru_cache(maxsize=2048)
def _time_part(hour: int, minute: int, locale: str) -> str:
    return format_time(time(hour, minute), "short", locale=locale)


def format_datetime_local(when: datetime, locale: str = "de", timezone: str = "UTC") -> str:
    """Date and time as the site's language writes them: "5. März 2010 um 11:47"."""
    local = when.astimezone(ZoneInfo(timezone))
    # Babel is slow per call; a thread has few distinct days and minutes.
    date_part = _date_part(local.date(), locale)
    time_part = _time_part(local.hour, local.minute, locale)
    return _datetime_pattern(locale).replace("{1}", date_part).replace("{0}", time_part)


def format_date_local(when: datetime, locale: str = "de", timezone: str = "UTC") -> str:
    return format_date(when.astimezone(ZoneInfo(timezone)), "long", locale=locale)


def count_links(text: str) -> int:
    """How many links a comment's text holds (for the hold-for-moderation rule)."""
    return len(re.findall(r"(?:https?://|www\.)", text, flags=re.IGNORECASE))
