"""The two Markdown paths of render.py agree on ordinary comments.

Almost every comment is parsed by cmark (the fast path); one that cmark turns
into a heading, a thematic break, an image or omitted raw HTML is parsed again
by markdown-it-py configured as exactly the subset. Both are CommonMark, so on
everything the subset allows they must give the same HTML after the shared
linkifier and the nh3 gate: a comment must not change its looks depending on
which parser read it. Hypothesis writes the comments here from the subset's
pieces: paragraphs, line breaks, *em*, **strong**, links, > quotes, `code`,
fenced code, lists, bare URLs, umlauts and entities.

(Known and left alone: on character soup the two differ in rare spec corners
where cmark follows CommonMark 0.29 and markdown-it-py 0.31, e.g. `*`/`_` next
to a symbol such as € or an emoji, or a line indented by four spaces after an
empty "> " line.)
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from replik.render import (
    _BARE_URL,
    _OUTSIDE_SUBSET,
    _linkify,
    _markdown_fast,
    _subset_parser,
    render_body,
    sanitize,
)

WORDS = st.sampled_from([
    "Hallo", "Welt", "Äpfel", "Größe", "über", "Straße", "schön", "Öl", "Übermut", "ja",
    "z.B.", "usw.", "(Klammer)", "„Zitat“", "„so“", "‚halb‘", "–", "…", "5 > 3", "2 < 4",
    "&", "&amp;", "&lt;3", "&gt;", "&quot;", "&auml;", "&#228;", "a_b_c", "snake_case",
    "Preis: 5 €", "50%", "100 €", "Lösung?", "Ja!", "so:", "x;", "'single'", '"double"',
    "C++", "1+1=2", "ü-Strich", "E-Mail", "foo@example.org", "#hashtag", "a#b",
])
URLS = st.sampled_from([
    "https://example.org", "https://example.org/a/b", "http://example.com/x?a=1&b=2",
    "https://de.wikipedia.org/wiki/Stra%C3%9Fe", "https://example.org/Straße",
    "https://example.org/a_b_c", "https://example.org/~user/", "http://example.net/#frag",
    "https://example.org/(x)", "www.example.de", "www.example.de/über",
])
LINK_TARGETS = st.sampled_from([
    "https://example.org", "http://example.com/x?a=1&b=2", "https://example.org/Straße",
    "https://example.org/a b", "mailto:leser@example.org", "https://example.org/\"q\"",
    "https://example.org/'q'", "https://example.org/[1]", "https://example.org/a|b",
    "https://example.org/%C3%A4", "https://example.org/100%", "https://ä.example/",
])


def _words(min_size: int = 1, max_size: int = 4):
    return st.lists(WORDS, min_size=min_size, max_size=max_size).map(" ".join)


def _link(text: str, target: str, title: str | None) -> str:
    if " " in target:
        target = f"<{target}>"
    return f"[{text}]({target})" if title is None else f'[{text}]({target} "{title}")'


INLINE = st.one_of(
    _words(),
    _words().map(lambda s: f"*{s}*"),
    _words().map(lambda s: f"**{s}**"),
    _words().map(lambda s: f"_{s}_"),
    _words().map(lambda s: f"***{s}***"),
    st.sampled_from(["<b>", "*", "**x**", "<Firma>", "&", "a < b", "x", "https://x.example"]).map(
        lambda s: f"`{s}`"
    ),
    st.builds(_link, _words(1, 2), LINK_TARGETS, st.none() | _words(1, 2)),
    URLS,
    URLS.map(lambda u: f"({u})"),
    URLS.map(lambda u: f"{u}."),
    URLS.map(lambda u: f"„{u}“"),
    st.sampled_from(["<https://example.org/auto>", "<leser@example.org>"]),
)

LINE = st.lists(INLINE, min_size=1, max_size=6).map(" ".join)
PARAGRAPH = st.lists(LINE, min_size=1, max_size=3).map("\n".join)
QUOTE = st.lists(LINE, min_size=1, max_size=3).map(lambda ls: "\n".join("> " + s for s in ls))
BULLETS = st.lists(LINE, min_size=1, max_size=4).map(lambda ls: "\n".join("- " + s for s in ls))
NUMBERED = st.lists(LINE, min_size=1, max_size=4).map(
    lambda ls: "\n".join(f"{i}. {s}" for i, s in enumerate(ls, 1))
)
CODE_LINE = st.sampled_from([
    "print('hi')", "<b>fett</b>", "# kein Titel", "---", "![x](y.png)", "    eingerückt",
    "a & b", "x = 1 < 2", "https://example.org", "*nicht kursiv*", "Äpfel = 3", "",
])
FENCED = st.lists(CODE_LINE, min_size=1, max_size=4).map(
    lambda ls: "```\n" + "\n".join(ls) + "\n```"
)
BLOCK = st.one_of(PARAGRAPH, PARAGRAPH, QUOTE, BULLETS, NUMBERED, FENCED)
COMMENT = st.tuples(
    st.lists(BLOCK, min_size=1, max_size=5),
    st.sampled_from(["\n\n", "\n\n", "\n"]),
).map(lambda t: t[1].join(t[0]))


def _finish(html: str) -> str:
    return sanitize(_linkify(html))


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(COMMENT)
def test_fast_path_and_subset_parser_agree(text):
    fast = _markdown_fast(text + "\n")
    assert not _OUTSIDE_SUBSET.search(fast), (text, fast)  # ordinary comments take the fast path
    assert _finish(fast) == _finish(_subset_parser().render(text + "\n")), text


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(COMMENT, st.sampled_from(["# Fazit", "---", "![bild](https://example.org/a.png)", "<b>x</b>"]))
def test_a_comment_outside_the_subset_keeps_the_rest_of_its_meaning(text, extra):
    # The fallback renders the whole comment; what the fast path would have made of
    # the ordinary part must still be there, unchanged.
    out = str(render_body(text + "\n\n" + extra))
    assert out.startswith(_finish(_markdown_fast(text + "\n")).rstrip("\n"))


def test_paths_are_chosen_by_what_cmark_made():
    assert not _OUTSIDE_SUBSET.search(_markdown_fast("Hallo *Welt*\n\n> Zitat\n"))
    for text in ["# Fazit", "Titel\n===", "---", "![a](https://x.example/a.png)", "<b>x</b>",
                 "<!-- c -->", "<div>\nx\n</div>"]:
        assert _OUTSIDE_SUBSET.search(_markdown_fast(text)), text


def _escape_as_the_parsers_do(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _linkify_raw_text(text: str) -> str:
    """The meaning of _BARE_URL: matched on the reader's text, then escaped."""
    pieces, last = [], 0
    for match in re.finditer(_BARE_URL, text):
        url = match.group(1)
        href = url if "://" in url else "https://" + url
        pieces.append(_escape_as_the_parsers_do(text[last : match.start(1)]))
        pieces.append(
            f'<a href="{_escape_as_the_parsers_do(href)}">{_escape_as_the_parsers_do(url)}</a>'
        )
        last = match.end(1)
    pieces.append(_escape_as_the_parsers_do(text[last:]))
    return "".join(pieces)


URL_SOUP = st.lists(
    st.sampled_from([
        "http://", "https://", "www.", "example.org", "/", "a", "ä", "_", "-", "@", ".", ",",
        ";", ":", "!", "?", ")", "(", "]", "}", "&", "&amp;", "<", ">", '"', "'", "`", " ",
        "\n", "=", "#", "%20", "x.y", "Straße",
    ]),
    max_size=24,
).map("".join)


@settings(max_examples=800, deadline=None, derandomize=True, database=None)
@given(URL_SOUP)
def test_linkifier_on_html_means_the_bare_url_pattern_on_text(text):
    html = "<p>" + _escape_as_the_parsers_do(text) + "</p>"
    assert _linkify(html) == "<p>" + _linkify_raw_text(text) + "</p>", text


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(URL_SOUP)
def test_linkifier_leaves_links_code_and_attributes_alone(text):
    escaped = _escape_as_the_parsers_do(text)
    for html in (
        f'<p><a href="https://x.example/{escaped}" title="{escaped}">{escaped}</a></p>',
        f"<p><code>{escaped}</code></p>",
        f'<pre><code class="language-{escaped}">{escaped}\n</code></pre>',
    ):
        assert _linkify(html) == html
