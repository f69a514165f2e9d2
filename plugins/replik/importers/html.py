"""HTML from another blog engine to Markdown, where Markdown can say all of it.

A post is converted only when every element and attribute it uses has a
Markdown form (paragraphs, emphasis, links, images, lists, quotes, headings,
code, rules); anything else (tables, iframes, classes, inline styles,
WordPress shortcodes …) keeps the post as HTML, which Pelican reads as well.
"""

from __future__ import annotations

import html
import re

import lxml.html
from markdownify import MarkdownConverter

# Element -> attributes Markdown can express.
_MARKDOWN_SAFE: dict[str, set[str]] = {
    "p": set(), "br": set(), "em": set(), "i": set(), "strong": set(), "b": set(),
    "a": {"href", "title"}, "img": {"src", "alt", "title"},
    "ul": set(), "ol": set(), "li": set(), "blockquote": set(),
    "h1": set(), "h2": set(), "h3": set(), "h4": set(), "h5": set(), "h6": set(),
    "code": set(), "pre": set(), "hr": set(),
}
# Tags that make markup keep to HTML without parsing it further.
_SURELY_HTML = re.compile(
    r"<(?:table|iframe|script|style|object|embed|video|audio|form|input|div|span|figure)\b",
    re.IGNORECASE,
)
# [caption], [gallery id="1"], [/embed] … but not "[...]" or "[1]".
_SHORTCODE = re.compile(r"\[/?[a-z_][\w-]*(?:\s[^\]]*)?\]", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_BLOCKS = (
    r"(?:table|thead|tfoot|caption|col|colgroup|tbody|tr|td|th|div|dl|dd|dt|ul|ol|li|pre|"
    r"form|map|area|blockquote|address|math|style|p|h[1-6]|hr|fieldset|legend|section|"
    r"article|aside|hgroup|header|footer|nav|figure|figcaption|details|menu|summary)"
)
_BLOCK_OPEN = re.compile(r"(<" + _BLOCKS + r"[\s/>])", re.IGNORECASE)
_BLOCK_CLOSE = re.compile(r"(</" + _BLOCKS + r">)", re.IGNORECASE)
_BLOCK_START = re.compile(r"^\s*(?:</?" + _BLOCKS + r"[\s/>]|<!--)", re.IGNORECASE)
_PRE = re.compile(r"<pre\b.*?</pre>", re.IGNORECASE | re.DOTALL)
_HAS_TAG = re.compile(r"<[a-zA-Z/!]")
_PARAGRAPH = re.compile(r"<p[\s>]", re.IGNORECASE)


def autop(text: str) -> str:
    """WordPress's wpautop in short: blank lines make paragraphs, newlines breaks.

    Classic-editor posts and comments are stored without <p>; this restores what
    WordPress shows. <pre> blocks are left exactly as they are.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return ""
    kept: list[str] = []

    def hold(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    text = _PRE.sub(hold, text)
    # Block elements stand apart from the paragraphs around them (as in wpautop).
    text = _BLOCK_OPEN.sub(r"\n\n\1", text)
    text = _BLOCK_CLOSE.sub(r"\1\n\n", text)
    out = []
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if not block:
            continue
        if _BLOCK_START.match(block) or re.fullmatch(r"\x00\d+\x00", block):
            out.append(block)
        else:
            out.append("<p>" + block.replace("\n", "<br />\n") + "</p>")
    joined = "\n\n".join(out)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], joined)


def markdown_can_say(markup: str) -> bool:
    """True when converting ``markup`` to Markdown loses nothing."""
    if _SURELY_HTML.search(markup) or _SHORTCODE.search(_COMMENT.sub("", markup)):
        return False
    if not _HAS_TAG.search(markup):
        return True
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except Exception:  # noqa: BLE001 - unparsable markup stays as it is
        return False
    for element in root.iterdescendants():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions: invisible
        allowed = _MARKDOWN_SAFE.get(element.tag.lower())
        if allowed is None or not set(element.attrib) <= allowed:
            return False
    return True


_converter = MarkdownConverter(heading_style="ATX", bullets="-", strong_em_symbol="*")


def to_markdown(markup: str) -> str:
    return _converter.convert(_COMMENT.sub("", markup)).strip() + "\n"


def post_body(raw: str) -> tuple[str, str]:
    """A post's content as ("md", markdown) or ("html", html)."""
    markup = raw.strip() if _PARAGRAPH.search(raw) else autop(raw)
    if markdown_can_say(markup):
        return "md", to_markdown(markup)
    return "html", markup + "\n"


def comment_body(raw: str) -> str:
    """A comment's HTML as the Markdown our renderer reads; plain text unchanged."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if not _HAS_TAG.search(text):
        return html.unescape(text) if "&" in text else text
    # Our renderer keeps line breaks itself; Markdown's two-space breaks are noise.
    return re.sub(r" +\n", "\n", to_markdown(autop(text))).strip("\n")
