"""A 200 MB WordPress export imports in bounded memory (streamed, not loaded)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: top level
from benchmarks.measure import run_measured  # noqa: E402
from tests.test_import_wordpress import make_project  # noqa: E402

POSTS = 50
COMMENTS_PER_POST = 8
TARGET_BYTES = 200 * 1024 * 1024
LIMIT_MB = 100

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>Big</title><link>https://big.example</link>
<wp:wxr_version>1.2</wp:wxr_version><wp:base_blog_url>https://big.example</wp:base_blog_url>
<wp:author><wp:author_login>ed</wp:author_login><wp:author_email>ed@big.example</wp:author_email>
<wp:author_display_name><![CDATA[Ed]]></wp:author_display_name></wp:author>
"""
COMMENT = """<wp:comment><wp:comment_id>{cid}</wp:comment_id>
<wp:comment_author><![CDATA[Leser {cid} – Ä]]></wp:comment_author>
<wp:comment_author_email>r{cid}@example.org</wp:comment_author_email>
<wp:comment_author_IP>192.0.2.1</wp:comment_author_IP>
<wp:comment_date>2020-01-01 12:{minute:02d}:00</wp:comment_date>
<wp:comment_date_gmt>2020-01-01 11:{minute:02d}:00</wp:comment_date_gmt>
<wp:comment_content><![CDATA[{text}]]></wp:comment_content>
<wp:comment_approved>1</wp:comment_approved><wp:comment_type/>
<wp:comment_parent>{parent}</wp:comment_parent><wp:comment_user_id>0</wp:comment_user_id>
</wp:comment>
"""


def generate(path: Path) -> None:
    """Write a WXR file of about 200 MB: big posts (tables: kept as HTML), many comments."""
    row = "<tr><td>Zelle mit Text äöü</td><td>12345</td></tr>\n"
    per_post = TARGET_BYTES // POSTS - COMMENTS_PER_POST * 1500
    body = "<p>Einleitung</p>\n<table>\n" + row * (per_post // len(row)) + "</table>"
    text = "Ein Kommentar mit etwas Text. " * 30
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEAD)
        for post in range(1, POSTS + 1):
            out.write(
                f"<item><title>Beitrag {post}</title><dc:creator>ed</dc:creator>"
                f"<content:encoded><![CDATA[{body}]]></content:encoded>"
                f"<wp:post_id>{post}</wp:post_id>"
                f"<wp:post_date>2020-01-01 10:00:00</wp:post_date>"
                f"<wp:post_date_gmt>2020-01-01 09:00:00</wp:post_date_gmt>"
                f"<wp:post_name>beitrag-{post}</wp:post_name><wp:status>publish</wp:status>"
                f"<wp:post_type>post</wp:post_type>\n"
            )
            for n in range(COMMENTS_PER_POST):
                cid = post * 100 + n
                parent = cid - 1 if n % 2 else 0
                out.write(COMMENT.format(cid=cid, minute=n, text=text, parent=parent))
            out.write("</item>\n")
        out.write("</channel></rss>\n")


@pytest.mark.slow
def test_a_200_mb_export_imports_in_under_100_mb(tmp_path):
    export = tmp_path / "big.xml"
    generate(export)
    assert export.stat().st_size >= TARGET_BYTES * 0.95
    conf = make_project(tmp_path / "blog")
    replik = Path(sys.executable).with_name("replik")
    log = tmp_path / "import.log"
    # The real command in a process of its own, its peak memory from wait4() (by
    # way of a launcher: a child spawned from this test process would start at
    # this process's own peak).
    measured = run_measured(
        [str(replik), "--settings", str(conf), "import", "wordpress", str(export)],
        conf.parent, log)
    output = log.read_text(encoding="utf-8")
    assert measured.returncode == 0, output[-3000:]
    count = POSTS * COMMENTS_PER_POST
    assert f"comments: {count} read, {count} new" in output
    assert f"content files: {POSTS} written" in output
    assert measured.peak_rss_mb < LIMIT_MB, f"peak memory {measured.peak_rss_mb:.0f} MB"
    export.unlink()  # 200 MB less on disk before the next test
