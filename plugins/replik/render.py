"""Comment bodies to safe HTML, and dates in the site's language.

The chain: a Markdown subset (CommonMark without headings, thematic breaks, images
and raw HTML, every line break kept) -> bare URLs made clickable -> nh3 (ammonia) as
the allowlist gate, last, so that whatever the earlier steps produce, no script,
event handler or javascript:/vbscript:/data: URL reaches a page. cmark (cmarkgfm)
parses almost every comment; it cannot switch rules off, so when its output holds
what the subset leaves out, markdown-it-py configured as exactly the subset parses
that comment again (tests/test_render_equivalence.py holds both to the same HTML).
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import cmarkgfm
import nh3
from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options as CmarkOptions
from markupsafe import Markup

ALLOWED_TAGS = {"p", "br", "em", "strong", "a", "blockquote", "code", "pre", "ul", "ol", "li"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow ugc"

# A bare http(s) or www. address; trailing punctuation is not part of it. This is the
# meaning on the reader's text; _linkify applies it to the text of either parser's HTML.
_BARE_URL = r"(?<![\w/@.])((?:https?://|www\.)[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}])"

# --- The fast path: cmark ---------------------------------------------------------

# Readers type line breaks and expect them kept (like WordPress and Isso). Without
# CMARK_OPT_UNSAFE cmark drops raw HTML and empties javascript:/vbscript:/file:/data: links.
_CMARK_OPTIONS = CmarkOptions.CMARK_OPT_HARDBREAKS


# cmark escapes every "<" of the text, so these can only be its own tags: a heading
# (<h1>..<h6>), a thematic break (<hr />), an image, or the comment it puts where
# raw HTML was ("<!-- raw HTML omitted -->"): what the subset leaves out.
_OUTSIDE_SUBSET = re.compile(r"<(?:h[1-6r]|img|!--)")


# --- The fallback: markdown-it-py as exactly the subset ----------------------------

# cmark's rules for a link destination (houdini_escape_href and _scan_dangerous_url),
# so that both paths give a link the same href.
_HREF_SAFE = "!#$%&'()*+,-./:;=?@_~"  # and letters and digits
_DANGEROUS_URL = re.compile(
    r"(?:javascript|vbscript|file):|data:(?!image/(?:png|gif|jpeg|webp))", re.IGNORECASE
)


@lru_cache(maxsize=1)
def _subset_parser() -> Any:
    """markdown-it-py as the exact subset (made on first need: most builds never need it)."""
    from markdown_it import MarkdownIt

    class _SubsetMarkdown(MarkdownIt):
        def normalizeLink(self, url: str) -> str:  # noqa: N802 (API name)
            if _DANGEROUS_URL.match(url):
                return ""
            return quote(url, safe=_HREF_SAFE)

        def normalizeLinkText(self, link: str) -> str:  # noqa: N802 (API name)
            return link

        def validateLink(self, url: str) -> bool:  # noqa: N802 (API name)
            return True  # normalizeLink has emptied a dangerous URL, as cmark does

    # html=False: a tag a reader types is shown as text, never dropped.
    md = _SubsetMarkdown("commonmark", {"html": False, "breaks": True})
    # Headings, thematic breaks and images are not part of the subset.
    return md.disable(["heading", "lheading", "hr", "image"])


# --- Shared: bare URLs made clickable ------------------------------------------------

# _BARE_URL as it reads in HTML text, where both parsers escape & < > " (and nothing
# else): "&amp;" is one character of an address, any other entity ends it, as its
# character would. So a match is the escaped address, ready for href and text.
_URL_CHAR = r"(?:[^\s<>\"'`&]|&amp;)"
_URL_LAST = r"(?:[^\s<>\"'`&.,;:!?)\]}]|&amp;)"
_BARE_URL_IN_HTML = re.compile(rf"(?:https?://|www\.){_URL_CHAR}+{_URL_LAST}")
# _BARE_URL's look-behind, and a raw '"': text holds none (both parsers escape it), so
# that is an attribute's value, such as a link's href; checked cheaply here.
_NOT_BEFORE_URL = re.compile(r"[\w/@.\"]")


def _linkify(out: str) -> str:
    """Make bare addresses in the HTML's text clickable (outside links and code).

    Works on the HTML both parsers produce: every "<" of the text is escaped, so a
    tag runs from "<" to the next ">", and links and code are well formed. One pass
    from left to right, in time linear in the HTML however many addresses it holds.
    """
    pieces: list[str] = []
    done = pos = seen = 0
    protected = 0  # links and code open at `seen`: never linkify in those (no nesting)
    last_lt = last_gt = -1  # the last "<" and ">" before `seen`
    # Candidates found with str.find: much faster than a regular expression's search.
    http, www = out.find("http"), out.find("www.")
    while http >= 0 or www >= 0:
        start = http if www < 0 or 0 <= http < www else www
        pos = start + 1
        if not (start and _NOT_BEFORE_URL.match(out, start - 1)) and (
            match := _BARE_URL_IN_HTML.match(out, start)
        ):
            # Where are we? Bring the state from `seen` up to `start`.
            protected += (
                out.count("<a ", seen, start)
                + out.count("<code", seen, start)
                + out.count("<pre", seen, start)
                - out.count("</a>", seen, start)
                - out.count("</code>", seen, start)
                - out.count("</pre>", seen, start)
            )
            last_lt = max(last_lt, out.rfind("<", seen, start))
            last_gt = max(last_gt, out.rfind(">", seen, start))
            seen = pos = match.end()  # an address holds no tag: nothing to count in it
            if not protected and last_lt <= last_gt:  # in text, not in a tag
                url = match.group()
                href = url if "://" in url else "https://" + url
                pieces += (out[done:start], '<a href="', href, '">', url, "</a>")
                done = pos
        if http < pos:
            http = out.find("http", pos) if http >= 0 else -1
        if www < pos:
            www = out.find("www.", pos) if www >= 0 else -1
    if not pieces:
        return out
    pieces.append(out[done:])
    return "".join(pieces)


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


def _libc_free() -> Callable[[Any], None] | None:
    # ctypes rather than cffi: cffi's C parser costs ~5 MB and 10 ms at import.
    try:
        free = ctypes.CDLL(None).free
    except (OSError, AttributeError, TypeError):  # no C library by that name (Windows)
        return None
    free.argtypes = [ctypes.c_void_p]
    free.restype = None
    cast = _cmark.ffi.cast
    return lambda raw: free(int(cast("uintptr_t", raw)))


_free = _libc_free()


def _markdown_fast(text: str) -> str:
    if _free is None:
        return cmarkgfm.markdown_to_html(text, _CMARK_OPTIONS)
    data = text.encode("utf-8")
    raw = _cmark.lib.cmark_markdown_to_html(data, len(data), _CMARK_OPTIONS)
    try:
        return _cmark.ffi.string(raw).decode("utf-8")
    finally:
        _free(raw)


def _markdown(text: str) -> str:
    """The subset's HTML, before linkify and the gate."""
    if not text.endswith("\n"):
        # Both parsers end the last line of an unclosed fenced code block alike only then.
        text += "\n"
    out = _markdown_fast(text)
    if _OUTSIDE_SUBSET.search(out):
        out = _subset_parser().render(text)
    return out


# Small on purpose: a build renders each text once; this serves a server's repeats.
@lru_cache(maxsize=256)
def _render(text: str) -> str:
    return sanitize(_linkify(_markdown(text))).rstrip("\n")


def _unix_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def render_body(text: str) -> Markup:
    """A comment's text as safe HTML."""
    return Markup(_render(_unix_newlines(text)))


def render_bodies(texts: list[str]) -> list[Markup]:
    """``[render_body(text) for text in texts]``, a step at a time over all of them.

    A build renders a thread's comments together: cmark and the linkifier over all of
    them, then nh3 over all of them, each while its code is hot in the processor's
    caches; the server's cache of repeated texts is left out.
    """
    linked = [_linkify(_markdown(_unix_newlines(text))) for text in texts]
    return [Markup(sanitize(html).rstrip("\n")) for html in linked]


def render_excerpt(text: str) -> Markup:
    """A linkback excerpt: plain text, shown as "[…] excerpt […]"; nothing at all when
    the linking page gave no text around its link (the title then stands alone)."""
    clean = " ".join(text.split())
    if not clean:
        return Markup("")
    return Markup(sanitize(Markup("<p>[…] {} […]</p>").format(clean)))


# CLDR's "atTime" patterns ("5. März 2010 um 11:47"); Babel ships only the comma form.
_AT_TIME = {"de": "{1} 'um' {0}", "en": "{1} 'at' {0}", "fr": "{1} 'à' {0}"}


@lru_cache(maxsize=16)
def _datetime_pattern(locale: str) -> str:
    pattern = _AT_TIME.get(locale.split("_")[0]) or str(get_datetime_format("long", locale=locale))
    return pattern.replace("'", "")


@lru_cache(maxsize=16)
def _locale(locale: str) -> Locale:
    # Babel parses a locale name anew on every call: most of a format call's cost.
    return Locale.parse(locale)


@lru_cache(maxsize=8192)
def _date_part(day: date, locale: str) -> str:
    return format_date(day, "long", locale=_locale(locale))


@lru_cache(maxsize=4096)  # every minute of a day, in two languages
def _time_part(hour: int, minute: int, locale: str) -> str:
    return format_time(time(hour, minute), "short", locale=_locale(locale))


def as_aware(when: datetime) -> datetime:
    """A naive datetime (Pelican's, without TIMEZONE) taken as UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def format_datetime_local(when: datetime, locale: str = "de", timezone: str = "UTC") -> str:
    """Date and time as the site's language writes them: "5. März 2010 um 11:47"."""
    local = when.astimezone(ZoneInfo(timezone))
    # Babel is slow per call; a thread has few distinct days and minutes.
    date_part = _date_part(local.date(), locale)
    time_part = _time_part(local.hour, local.minute, locale)
    return _datetime_pattern(locale).replace("{1}", date_part).replace("{0}", time_part)


def format_date_local(when: datetime, locale: str = "de", timezone: str = "UTC") -> str:
    """The date alone, as the site's language writes it: "5. März 2010"."""
    return _date_part(when.astimezone(ZoneInfo(timezone)).date(), locale)


def count_links(text: str) -> int:
    """How many links a comment's text holds (for the hold-for-moderation rule)."""
    return len(re.findall(r"(?:https?://|www\.)", text, flags=re.IGNORECASE))
