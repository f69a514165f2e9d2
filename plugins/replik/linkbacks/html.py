"""Reading a linking page: does it link to us, what is its title, the text around the link.

Everything here works on the fetched document only; nothing is fetched here.
"""

from __future__ import annotations

import re
from copy import deepcopy
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

EXCERPT_LENGTH = 200
# Elements whose text is never part of an excerpt.
_INVISIBLE = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
# Where a link to a post can hide (W3C Webmention §3.2.2: links, images, media).
_LINK_ATTRS = (("a", "href"), ("area", "href"), ("img", "src"), ("video", "src"),
               ("audio", "src"), ("source", "src"), ("blockquote", "cite"), ("q", "cite"))
_BLOCKS = {"p", "li", "blockquote", "dd", "dt", "td", "th", "figcaption", "article",
           "section", "div", "main", "body", "h1", "h2", "h3", "h4", "h5", "h6", "pre"}


def normalize_url(url: str) -> str:
    """A URL as compared for "links to": no fragment, lower-case host, no default port,
    no trailing slash, http and https alike."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    if scheme == "https":
        scheme = "http"
    path = parts.path.rstrip("/") or ""
    return urlunsplit((scheme, host, path, parts.query, ""))


def same_url(a: str, b: str) -> bool:
    return normalize_url(a) == normalize_url(b)


def normalize_source(url: str) -> str:
    """A source URL as compared for "the same source": ``normalize_url`` with its
    fragment kept, since ``post#comment-3`` (a comment on a page) is not ``post``."""
    try:
        fragment = urlsplit(url.strip()).fragment
    except ValueError:
        fragment = ""
    return normalize_url(url) + (f"#{fragment}" if fragment else "")


@dataclass
class Page:
    """A parsed linking page."""

    url: str
    root: etree._Element | None  # None for plain text
    text: str  # the raw text (plain-text sources)

    @classmethod
    def parse(cls, url: str, text: str, media_type: str) -> Page:
        if media_type == "text/plain":
            return cls(url, None, text)
        if not text.strip():
            return cls(url, None, "")
        try:
            root = lxml.html.document_fromstring(text)
        except (etree.ParserError, ValueError):
            return cls(url, None, "")
        return cls(url, root, text)

    # -- links ---------------------------------------------------------------
    def link_to(self, target: str) -> etree._Element | None:
        """The first element linking to ``target`` (None if none does)."""
        if self.root is None:
            return None
        base = self.base_url()
        for tag, attr in _LINK_ATTRS:
            for element in self.root.iter(tag):
                value = element.get(attr)
                if value and not _inside_invisible(element) and same_url(
                    urljoin(base, value.strip()), target
                ):
                    return element
        return None

    def links(self, target: str) -> bool:
        if self.root is None:
            # A plain-text source mentions the target by its URL (Webmention §3.2.2).
            return bool(target) and target in self.text
        return self.link_to(target) is not None

    def base_url(self) -> str:
        if self.root is not None:
            for base in self.root.iter("base"):
                href = base.get("href")
                if href:
                    return urljoin(self.url, href.strip())
        return self.url

    def all_links(self) -> list[str]:
        """Absolute http(s) URLs of every ``<a href>`` (for sending linkbacks)."""
        if self.root is None:
            return []
        base = self.base_url()
        found: list[str] = []
        for element in self.root.iter("a"):
            href = (element.get("href") or "").strip()
            if not href or _inside_invisible(element):
                continue
            parts = urlsplit(urljoin(base, href))
            url = urlunsplit(parts._replace(fragment=""))
            if parts.scheme.lower() in ("http", "https") and url not in found:
                found.append(url)
        return found

    # -- text ----------------------------------------------------------------
    def title(self) -> str:
        if self.root is None:
            return ""
        for xpath in ('//meta[@property="og:title"]/@content', "//title//text()",
                      "//h1//text()"):
            values = self.root.xpath(xpath)
            text = clean(" ".join(str(v) for v in values))
            if text:
                return text[:300]
        return ""

    def site_name(self) -> str:
        if self.root is not None:
            values = self.root.xpath(
                '//meta[@property="og:site_name"]/@content'
                ' | //meta[@name="application-name"]/@content'
            )
            if values and clean(str(values[0])):
                return clean(str(values[0]))[:200]
        return urlsplit(self.url).hostname or self.url

    def excerpt(self, target: str, length: int = EXCERPT_LENGTH) -> str:
        """About ``length`` characters of text around the link, whole words, no markup."""
        if self.root is None:
            return around(clean(self.text), target, length) if self.text else ""
        element = self.link_to(target)
        if element is None:
            return ""
        anchor = visible_text(element)
        block = element
        while block.getparent() is not None and block.tag not in _BLOCKS:
            block = block.getparent()
        text = visible_text(block)
        # A short paragraph borrows context from the whole page.
        if len(text) < length // 2 and block.tag not in ("body",):
            page_body = self.root.find("body")
            if page_body is not None:
                text = visible_text(page_body)
        return around(text, anchor, length)


def _inside_invisible(element: etree._Element) -> bool:
    return any(isinstance(ancestor.tag, str) and ancestor.tag.lower() in _INVISIBLE
               for ancestor in element.iterancestors())


def visible_text(element: etree._Element) -> str:
    """The text a reader sees in ``element`` (scripts, styles and comments left out),
    blocks apart, whitespace collapsed."""
    if element.tag.lower() in _INVISIBLE:
        return ""
    copy = deepcopy(element)
    copy.tail = None
    etree.strip_elements(copy, etree.Comment, etree.ProcessingInstruction, *_INVISIBLE,
                         with_tail=False)
    for node in copy.iter(*_BLOCKS, "br"):
        node.text = " " + (node.text or "")
        if node.tag != "br":
            node.tail = " " + (node.tail or "")
    return clean("".join(copy.itertext()))


def clean(text: str) -> str:
    """Collapse whitespace and drop control characters."""
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    return " ".join(text.split())


def around(text: str, needle: str, length: int = EXCERPT_LENGTH) -> str:
    """``length`` characters of ``text`` centred on ``needle``, cut at whole words."""
    if len(text) <= length:
        return text
    position = text.find(needle) if needle else -1
    if position < 0:
        position = 0
    centre = position + len(needle) // 2
    start = max(0, centre - length // 2)
    end = min(len(text), start + length)
    start = max(0, end - length)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < position + 1 else start
    if end < len(text):
        space = text.rfind(" ", start, end + 1)
        end = space if space > max(start, position + len(needle) - 1) else end
    return text[start:end].strip()
