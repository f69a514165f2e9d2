"""The comment feeds' Atom and RSS, serialized by hand.

feedgen (an lxml tree per feed, rebuilt for each format) cost about 58 µs per entry
in the build benchmark; these strings cost a few µs. The bytes are the ones
feedgen 1.0.0 writes for the calls the plugin used to make (pretty-printed,
with lxml's escaping, the dc extension on RSS only, its generator element), so
feeds written by either are interchangeable; tests/test_feedxml.py keeps feedgen
as the oracle and compares byte for byte.

One deliberate difference: feedgen (lxml) raises ValueError on characters XML 1.0
cannot hold (C0 controls other than tab, newline and carriage return, U+FFFE,
U+FFFF) and UnicodeEncodeError on lone surrogates, which crashed the build. Here
they are dropped, so the feed is written and stays well-formed.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .feeds import FeedSpec

#: The feedgen release whose bytes this module writes (it names itself in
#: <generator>).
GENERATOR_VERSION = "1.0.0"

_DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"
_ATOM_GENERATOR = ('  <generator uri="https://lkiesow.github.io/python-feedgen" '
                   f'version="{GENERATOR_VERSION}">python-feedgen</generator>\n')
_RSS_ROOT = ('<rss xmlns:dc="http://purl.org/dc/elements/1.1/" '
             'xmlns:atom="http://www.w3.org/2005/Atom" '
             'xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">\n'
             '  <channel>\n')
_RSS_FIXED = ("    <docs>http://www.rssboard.org/rss-specification</docs>\n"
              "    <generator>python-feedgen</generator>\n")

# RFC 822 dates as feedgen's formatRFC2822 writes them (strftime in the C locale),
# without switching the process's locale for each date.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# strftime's %z for each isoformat() offset seen ("+05:30" -> "+0530").
_ZONES: dict[str, str] = {}

# What XML 1.0 cannot hold (lxml refuses it all); the C0 part as bytes for a fast check.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_C0 = bytes(c for c in range(32) if c not in (9, 10, 13))


def _text(value: str) -> str:
    """Element text as libxml2 escapes it (quotes stay, CR becomes a reference)."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def _text_bytes(value: bytes) -> bytes:
    """_text() for UTF-8 bytes."""
    return (value.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")
            .replace(b"\r", b"&#13;"))


def _attr_from_text(text: str) -> str:
    """An attribute value from an already _text()-escaped string: libxml2 escapes
    quotes, tabs and newlines in attributes too."""
    return text.replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _rfc822(when: datetime, iso: str) -> str:
    """RFC 822, from ``when`` and its isoformat() (cheaper to slice than to format)."""
    if when.year < 1000:  # strftime's %Y is not zero-padded there (glibc)
        return (f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} "
                f"{when.strftime('%Y %H:%M:%S %z')}")
    # isoformat: YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM[:SS[.ffffff]]]
    offset = iso[26:] if iso[19:20] == "." else iso[19:]
    zone = _ZONES.get(offset)
    if zone is None:
        zone = _ZONES[offset] = when.strftime("%z")
    return (f"{_DAYS[when.weekday()]}, {iso[8:10]} {_MONTHS[when.month - 1]} {iso[:4]} "
            f"{iso[11:19]} {zone}")


def render(spec: FeedSpec) -> tuple[bytes, bytes]:
    """The feed as (Atom, RSS) bytes."""
    try:
        atom, rss = _serialize(spec)
    except UnicodeEncodeError:  # a lone surrogate
        pass
    else:
        # The Atom document holds every input but the RSS self link (what it leaves
        # out is empty), so checking it and that link is checking everything.
        # U+FFFE and U+FFFF are EF BF BE/BF in UTF-8: a memchr for BF rules both out.
        if (len(atom.translate(None, _C0)) == len(atom)
                and (b"\xbf" not in atom
                     or (b"\xef\xbf\xbe" not in atom and b"\xef\xbf\xbf" not in atom))
                and not _NOT_XML.search(spec.self_urls[1])):
            return atom, rss
    return _serialize(_cleaned(spec))


def _cleaned(spec: FeedSpec) -> FeedSpec:
    """``spec`` without the characters XML 1.0 cannot hold (the rare slow path)."""
    def clean(value: Any) -> dict[str, Any]:  # its text fields, cleaned
        return {f.name: _NOT_XML.sub("", text) for f in fields(value)
                if isinstance(text := getattr(value, f.name), str)}

    self_urls = tuple(_NOT_XML.sub("", url) for url in spec.self_urls)
    return replace(spec, **clean(spec), self_urls=self_urls,
                   items=tuple(replace(item, **clean(item)) for item in spec.items))


def _serialize(spec: FeedSpec) -> tuple[bytes, bytes]:
    """Both documents. An entry's strings are escaped once for both formats, and its
    HTML (the bulk) is encoded once and only copied after that: the rest is encoded
    in a few pieces per entry, the documents joined as bytes."""
    title = _text(spec.title)
    description = _text(spec.description)
    language = _text(spec.language)
    page = _text(spec.page_url)
    atom_self = _text(spec.self_urls[0])
    updated = spec.updated.isoformat()
    atom_head = [
        _DECLARATION,
        # feedgen sets xml:lang (and RSS's <language>) only for a non-empty language.
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{_attr_from_text(language)}">\n'
        if language else '<feed xmlns="http://www.w3.org/2005/Atom">\n',
        f"  <id>{atom_self}</id>\n"
        f"  <title>{title}</title>\n"
        f"  <updated>{updated}</updated>\n"
        # rel=self first: feedgen keeps the links in the order they were added.
        f'  <link href="{_attr_from_text(atom_self)}" rel="self"/>\n'
        f'  <link href="{_attr_from_text(page)}" rel="alternate"/>\n',
        _ATOM_GENERATOR,
        # Atom's <subtitle> is optional; RSS's <description> is always there.
        f"  <subtitle>{description}</subtitle>\n" if description else "",
    ]
    rss_head = [
        _DECLARATION,
        _RSS_ROOT,
        f"    <title>{title}</title>\n"
        f"    <link>{page}</link>\n"
        f"    <description>{description}</description>\n"
        f'    <atom:link href="{_attr_from_text(_text(spec.self_urls[1]))}" rel="self"/>\n',
        _RSS_FIXED,
        f"    <language>{language}</language>\n" if language else "",
        f"    <lastBuildDate>{_rfc822(spec.updated, updated)}</lastBuildDate>\n",
    ]
    atom = ["".join(atom_head).encode()]
    rss = ["".join(rss_head).encode()]
    add_atom = atom.extend
    add_rss = rss.extend
    for item in spec.items:
        link = _text(item.link)
        entry_title = _text(item.title)
        author = _text(item.author)
        html = _text_bytes(item.html.encode())
        when = item.date
        date = when.isoformat()
        # feedgen leaves out an author without a name and writes empty content as
        # <content type="html"/>; its entry link never gets the rel attribute (a
        # shadowed variable in FeedEntry.atom_entry), alternate being Atom's default.
        name = f"    <author>\n      <name>{author}</name>\n    </author>\n" if author else ""
        start = (f"  <entry>\n    <id>{link}</id>\n    <title>{entry_title}</title>\n"
                 f"    <updated>{date}</updated>\n{name}")
        end = (f'    <link href="{_attr_from_text(link)}"/>\n'
               f"    <published>{date}</published>\n  </entry>\n")
        if html:
            add_atom((f'{start}    <content type="html">'.encode(), html,
                      f"</content>\n{end}".encode()))
        else:
            add_atom((f'{start}    <content type="html"/>\n{end}'.encode(),))
        # RSS's <author> must be an email address, which we never publish: dc:creator.
        # An empty title, link or guid is left out; an empty description or
        # dc:creator is an empty element (lxml's text="").
        title_line = f"      <title>{entry_title}</title>\n" if entry_title else ""
        link_line = f"      <link>{link}</link>\n" if link else ""
        guid_line = f'      <guid isPermaLink="false">{link}</guid>\n' if link else ""
        add_rss((
            f"    <item>\n{title_line}{link_line}      <description>".encode(),
            html,
            f"</description>\n{guid_line}      <pubDate>{_rfc822(when, date)}</pubDate>\n"
            f"      <dc:creator>{author}</dc:creator>\n    </item>\n".encode(),
        ))
    atom.append(b"</feed>\n")
    rss.append(b"  </channel>\n</rss>\n")
    return b"".join(atom), b"".join(rss)
