"""Comment rendering: the Markdown subset, linkify, the sanitizer gate, dates."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest
from lxml import html as lxml_html

from replik.render import (
    _markdown_fast,
    count_links,
    format_date_local,
    format_datetime_local,
    render_bodies,
    render_body,
    render_excerpt,
    sanitize,
)

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<iframe src=javascript:alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="javascript:123">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="  javascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](java%0ascript:alert(1))",
    "[x](vbscript:alert(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    "<javascript:alert(1)>",
    '[x](http://ok.example "title" onmouseover="alert(1)")',
    "![img](http://x.example/a.png)",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<a href=\"http://ok.example\" onclick=\"alert(1)\">x</a>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "`<script>alert(1)</script>`",
    "    <script>alert(1)</script>",
    "> <script>alert(1)</script>",
    "<<script>alert(1)//<</script>",
    "<form action=javascript:alert(1)><button>x</button></form>",
]

ALLOWED_TAGS = {"p", "br", "em", "strong", "a", "blockquote", "code", "pre", "ul", "ol", "li"}


def _walk(html: str):
    tree = lxml_html.fragment_fromstring(html or "<p></p>", create_parent="div")
    for element in tree.iter():
        if element is tree:
            continue
        yield element


# A heading first sends the comment down the fallback path (markdown-it-py as the
# subset) instead of cmark: the gate must hold on both.
PATHS = {"fast": "", "fallback": "# Titel\n\n"}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("text", HOSTILE)
def test_no_active_content_gets_through(text, path):
    out = str(render_body(PATHS[path] + text))
    for element in _walk(out):
        assert element.tag in ALLOWED_TAGS, out
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), out
            if name == "href":
                assert re.match(r"^(https?:|mailto:)", value), out
            assert name in {"href", "title", "rel"}, out


def test_a_thread_rendered_at_once_is_rendered_as_each_alone():
    texts = [PATHS[path] + text for path in PATHS for text in HOSTILE]
    texts += ["Zeile\r\nZeile\rZeile", "", "www.example.org und https://x.example/?a=1&b=2"]
    assert render_bodies(texts) == [render_body(text) for text in texts]
    assert all(type(html) is type(render_body("")) for html in render_bodies(texts))


def test_sanitizer_gate_itself_blocks_what_bleach_lets_through():
    assert "javascript" not in sanitize('<a href="javascript:123">x</a>')
    assert "javascript" not in sanitize('<a href="&#106;avascript:alert(1)">x</a>').lower()


def test_markdown_subset():
    out = str(render_body("*kursiv* und **fett**\nneue Zeile\n\n> Zitat\n\n`code`"))
    assert "<em>kursiv</em>" in out and "<strong>fett</strong>" in out
    assert "<br>" in out
    assert "<blockquote>" in out and "<code>code</code>" in out
    assert out.count("<p>") == 3


def test_headings_and_images_are_not_part_of_the_subset():
    out = str(render_body("# Überschrift\n\n![bild](https://example.org/a.png)"))
    assert "<h1" not in out and "<img" not in out
    assert "Überschrift" in out


@pytest.mark.parametrize(("text", "expected"), [
    ("# Fazit", "<p># Fazit</p>"),
    ("###### Fazit", "<p>###### Fazit</p>"),
    ("Fazit\n=====", "<p>Fazit<br>\n=====</p>"),
    ("Fazit\n---", "<p>Fazit<br>\n---</p>"),
    ("---", "<p>---</p>"),
    ("***", "<p>***</p>"),
    ("Ich mag <b>hi</b> und <Firma>.", "<p>Ich mag &lt;b&gt;hi&lt;/b&gt; und &lt;Firma&gt;.</p>"),
    ("<div>\nx\n</div>", "<p>&lt;div&gt;<br>\nx<br>\n&lt;/div&gt;</p>"),
    ("<!-- still -->", "<p>&lt;!-- still --&gt;</p>"),
    # No image: the "!" stays, the rest is an ordinary link.
    ("![alt](https://example.org/a.png)",
     '<p>!<a href="https://example.org/a.png" rel="nofollow ugc">alt</a></p>'),
])
def test_what_the_subset_leaves_out_shows_as_text(text, expected):
    assert str(render_body(text)) == expected


def test_outside_the_subset_the_rest_renders_as_usual():
    out = str(render_body("# Fazit\nSiehe *hier* und www.example.org\n\n> Zitat <b>x</b>"))
    assert out == (
        '<p># Fazit<br>\nSiehe <em>hier</em> und <a href="https://www.example.org"'
        ' rel="nofollow ugc">www.example.org</a></p>\n'
        "<blockquote>\n<p>Zitat &lt;b&gt;x&lt;/b&gt;</p>\n</blockquote>"
    )


def test_lists_and_code_blocks():
    # CommonMark: a list may follow a paragraph line directly (no blank line needed).
    out = str(render_body("Liste:\n- eins\n- zwei\n\n1. a\n2. b\n\n```\n<b>x</b> http://x.example\n```"))
    assert out == (
        "<p>Liste:</p>\n<ul>\n<li>eins</li>\n<li>zwei</li>\n</ul>\n"
        "<ol>\n<li>a</li>\n<li>b</li>\n</ol>\n"
        "<pre><code>&lt;b&gt;x&lt;/b&gt; http://x.example\n</code></pre>"
    )


def test_links_and_bare_urls_get_nofollow_ugc():
    out = str(render_body("Siehe [hier](https://example.org/a) und https://example.com/b."))
    links = [e for e in _walk(out) if e.tag == "a"]
    assert [a.get("href") for a in links] == ["https://example.org/a", "https://example.com/b"]
    assert all(a.get("rel") == "nofollow ugc" for a in links)
    assert "https://example.com/b</a>." in out  # trailing dot stays text


def test_www_addresses_are_linked_and_links_are_not_nested():
    out = str(render_body("www.example.org und [https://a.example](https://b.example)"))
    links = [e for e in _walk(out) if e.tag == "a"]
    assert [a.get("href") for a in links] == ["https://www.example.org", "https://b.example"]


@pytest.mark.parametrize("path", PATHS)
def test_bare_urls_in_text_only(path):
    out = str(render_body(PATHS[path] + (
        'Ein "https://a.example/x?a=1&b=2", (www.b.example/ü) und `http://c.example`,\n'
        "[http://d.example](https://e.example) oder <https://f.example>; "
        "auch mail@www.g.example und https://h.example/a_(b)."
    )))
    links = [(a.get("href"), a.text) for a in _walk(out) if a.tag == "a"]
    assert links == [
        ("https://a.example/x?a=1&b=2", "https://a.example/x?a=1&b=2"),
        ("https://www.b.example/ü", "www.b.example/ü"),
        ("https://e.example", "http://d.example"),
        ("https://f.example", "https://f.example"),
        ("https://h.example/a_(b", "https://h.example/a_(b"),
    ]
    assert "<code>http://c.example</code>" in out


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux's /proc")
def test_the_fast_path_gives_back_cmarks_memory():
    # cmarkgfm's own markdown_to_html leaks every result; the server renders for weeks.
    def resident_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    text = "Hallo *Welt* " * 320  # about 4 kB of HTML
    _markdown_fast(text)
    before = resident_mb()
    for _ in range(10_000):  # 40 MB if each result were kept
        _markdown_fast(text)
    assert resident_mb() - before < 15


def test_raw_html_is_shown_as_text():
    out = str(render_body("Ich mag <b>fett</b> & Co."))
    assert "&lt;b&gt;fett&lt;/b&gt;" in out
    assert "&amp; Co." in out


def test_excerpt_is_plain_text_in_brackets():
    out = str(render_excerpt("Ein  Text\nmit <b>Markup</b> & mehr"))
    assert out == "<p>[…] Ein Text mit &lt;b&gt;Markup&lt;/b&gt; &amp; mehr […]</p>"


def test_dates_in_the_sites_language():
    when = datetime(2010, 3, 5, 10, 47, tzinfo=UTC)
    assert format_datetime_local(when, "de", "Europe/Berlin") == "5. März 2010 um 11:47"
    assert format_datetime_local(when, "en", "Europe/Berlin") == "March 5, 2010 at 11:47\u202fAM"
    assert format_date_local(when, "de", "Europe/Berlin") == "5. März 2010"


def test_count_links():
    assert count_links("a http://x.example b www.y.example [c](https://z.example)") == 3
    assert count_links("kein Link") == 0
