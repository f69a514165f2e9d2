"""`replik import wordpress` with WordPress's own theme test data, end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from lxml import html as lxml_html
from sitebuilder import write_project_conf

from replik.cli import main
from replik.store import Store

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
WXR = FIXTURES / "themeunittestdata.wordpress.xml"
WP = "{https://wordpress.org/export/1.2/}"
IN_CI = os.environ.get("CI", "").lower() == "true"


def fixture(path: Path) -> Path:
    if not path.exists():
        if IN_CI:
            pytest.fail(f"fixture {path} is missing")
        pytest.skip(f"fixture {path} is missing")
    return path


def make_project(root: Path, **overrides: object) -> Path:
    """A blog folder: the project's own configuration, theme and plugins, empty content."""
    (root / "content").mkdir(parents=True, exist_ok=True)
    settings = {"SITEURL": "", "FEED_DOMAIN": "", "RELATIVE_URLS": False,
                "CACHE_CONTENT": False, "LOAD_CONTENT_CACHE": False, **overrides}
    return write_project_conf(root, **settings)


def run_cli(conf: Path, *args: str, ok: bool = True, input: str | None = None):
    result = CliRunner().invoke(main, ["--settings", str(conf), *args], input=input,
                                catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def snapshot(folder: Path) -> dict[str, bytes]:
    # The entries and content files; the audit log only ever grows.
    files = (p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "audit.log")
    return {str(p.relative_to(folder)): p.read_bytes() for p in files
            if "tmp" not in p.relative_to(folder).parts}


def expected_comments(path: Path) -> dict[str, dict]:
    """What the fixture says about each comment, read independently of the importer."""
    out = {}
    for item in etree.parse(str(path)).iter("item"):
        slug = item.findtext(f"{WP}post_name")
        for c in item.iter(f"{WP}comment"):
            approved = c.findtext(f"{WP}comment_approved")
            gmt = datetime.strptime(c.findtext(f"{WP}comment_date_gmt"), "%Y-%m-%d %H:%M:%S")
            local = datetime.strptime(c.findtext(f"{WP}comment_date"), "%Y-%m-%d %H:%M:%S")
            minutes = int((local - gmt).total_seconds() // 60)
            out[c.findtext(f"{WP}comment_id")] = {
                "slug": slug,
                "state": {"1": "approved", "0": "pending"}[approved],
                "type": c.findtext(f"{WP}comment_type") or "comment",
                "parent": c.findtext(f"{WP}comment_parent"),
                "date": gmt.replace(tzinfo=UTC),
                "offset": f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:"
                          f"{abs(minutes) % 60:02d}",
                "email": c.findtext(f"{WP}comment_author_email") or "",
            }
    return out


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):
    conf = make_project(tmp_path_factory.mktemp("blog"), REPLIK_MAX_DEPTH=10)
    result = run_cli(conf, "import", "wordpress", str(fixture(WXR)))
    store = Store(conf.parent / "comments")
    by_wp = {e.extra["WP-Comment-Id"]: e for e in store.all_entries()}
    return conf, result.output, store, by_wp


def test_every_comment_lands_with_its_state_parent_and_date(imported):
    _conf, _output, _store, by_wp = imported
    expected = expected_comments(WXR)
    assert len(expected) == 33 and set(by_wp) == set(expected)
    ids = {wp_id: entry.id for wp_id, entry in by_wp.items()}
    for wp_id, want in expected.items():
        entry = by_wp[wp_id]
        assert entry.state == want["state"], wp_id
        assert entry.type == want["type"], wp_id
        assert entry.article == want["slug"], wp_id
        assert entry.date == want["date"] and entry.date.tzinfo is not None, wp_id
        assert entry.extra["Original-Offset"] == want["offset"], wp_id
        assert entry.email == want["email"], wp_id
        assert entry.reply_to == (ids[want["parent"]] if want["parent"] != "0" else ""), wp_id
    states = sorted(e.state for e in by_wp.values())
    assert states.count("pending") == 3 and states.count("approved") == 30
    types = [e.type for e in by_wp.values()]
    assert types.count("pingback") == 2 and types.count("trackback") == 2


def test_threads_nine_levels_deep_are_kept(imported):
    _conf, _output, _store, by_wp = imported
    by_id = {e.id: e for e in by_wp.values()}
    entry, depth = by_wp["915"], 1
    while entry.reply_to:
        entry, depth = by_id[entry.reply_to], depth + 1
    assert entry.extra["WP-Comment-Id"] == "904" and depth == 10


def test_authors_linkbacks_and_staff(imported):
    _conf, _output, _store, by_wp = imported
    assert by_wp["881"].author == "John Γιάννης Doe Κάποιος"
    ping = by_wp["921"]
    # Entities in WordPress's stored names are decoded; the "[...]" markers dropped.
    assert ping.author == ping.title == "Ping 1 « What’s a tellyworth?"
    assert ping.source == "http://tellyworth.wordpress.com/2007/11/21/ping-1/"
    assert ping.body == "Trackback test."
    # The post author's comments (by e-mail, or by their WordPress user id) are staff.
    staff = {wp_id for wp_id, e in by_wp.items() if e.staff}
    assert staff == {"169", "903", "910", "915", "920"}
    assert by_wp["920"].extra["WP-User-Id"] == "24783058"
    # HTML in comments becomes the Markdown our renderer reads.
    assert "**Headings**" in by_wp["881"].body and "<strong>" not in by_wp["881"].body


def test_posts_and_pages_become_pelican_content(imported):
    from replik.importers.articles import content_articles
    from replik.settings import load_settings

    conf, output, _store, _by_wp = imported
    assert "posts: 58 (3 draft, 55 published)" in output
    assert "pages: 21 (21 published)" in output
    assert "70 × item of type 'nav_menu_item'" in output
    content = conf.parent / "content"
    text = (content / "template-comments.md").read_text(encoding="utf-8")
    head = text.split("\n\n", 1)[0].splitlines()
    assert "Title: Template: Comments" in head
    assert "Date: 2012-01-03 10:11:37-07:00" in head
    assert "Slug: template-comments" in head and "Status: published" in head
    assert "Category: Classic" in head and "Author: Theme Buster" in head
    assert "- Threaded comments up to 10 levels deep" in text
    # A post with a table stays HTML, which Pelican reads as well.
    special = (content / "title-with-special-characters.html").read_text(encoding="utf-8")
    assert "<table>" in special and '<meta name="slug"' in special
    assert (content / "draft.md").read_text(encoding="utf-8").count("Status: draft") == 1
    excerpt = (content / "template-excerpt-defined.md").read_text(encoding="utf-8")
    assert "\nSummary: This is a user-defined post excerpt. It should" in excerpt
    assert (content / "pages" / "page-with-comments.md").exists()
    attachments = (conf.parent / "wordpress-attachments.txt").read_text().split()
    assert len(attachments) == 37 and all(a.startswith("https://") for a in attachments)
    # Pelican sees the same slugs the comments are filed under.
    articles = {a.slug: a for a in content_articles(load_settings(conf))}
    for slug in ("template-comments", "template-pingbacks-an-trackbacks", "edge-case-no-title"):
        assert slug in articles
    assert articles["template-comments"].date.utcoffset().total_seconds() == -7 * 3600


def test_built_site_shows_approved_comments_in_their_threads(imported, tmp_path):
    conf, _output, _store, by_wp = imported
    out = tmp_path / "output"
    result = subprocess.run(
        [sys.executable, "-m", "pelican", "content", "-o", str(out), "-s", str(conf),
         "-e", f'REPLIK_CACHE="{tmp_path / "cache"}"'],
        cwd=conf.parent, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = lxml_html.parse(str(out / "2012" / "template-comments" / "index.html")).getroot()

    def parent_comment(wp_id: str) -> str:
        article = page.get_element_by_id(f"comment-{by_wp[wp_id].id}")
        li = article.getparent().getparent().getparent()  # li > ol.comment-children > li
        if li.tag != "li":
            return ""
        own = li.find("article")
        return next(k for k, e in by_wp.items() if f"comment-{e.id}" == own.get("id"))

    for child, parent in [("905", "904"), ("910", "907"), ("915", "914")]:
        assert parent_comment(child) == parent
    assert parent_comment("904") == ""
    shown = {a.get("id") for a in page.iter("article") if a.get("id", "").startswith("comment-")}
    assert f"comment-{by_wp['1015'].id}" not in shown  # pending stays hidden
    approved = {k for k, e in by_wp.items() if e.state == "approved"
                and e.article == "template-comments"}
    assert {f"comment-{by_wp[k].id}" for k in approved} <= shown
    pings = (out / "2012" / "template-pingbacks-an-trackbacks" / "index.html").read_text()
    assert "Ping 1 « What’s a tellyworth?" in pings or "Ping 1 &laquo;" in pings


def test_importing_again_changes_nothing(imported):
    conf, _output, _store, _by_wp = imported
    before = snapshot(conf.parent / "comments") | snapshot(conf.parent / "content")
    result = run_cli(conf, "import", "wordpress", str(WXR))
    assert "33 read, 0 new, 33 already in the store" in result.output
    assert "0 written, 79 unchanged" in result.output
    assert snapshot(conf.parent / "comments") | snapshot(conf.parent / "content") == before


def _variant(tmp_path: Path, edit) -> Path:
    target = tmp_path / "export.xml"
    target.write_text(edit(fixture(WXR).read_text(encoding="utf-8")), encoding="utf-8")
    return target


NEW_COMMENT = """
	<wp:comment>
	<wp:comment_id>5000</wp:comment_id>
	<wp:comment_author><![CDATA[Zoë Neu]]></wp:comment_author>
	<wp:comment_author_email>zoe@example.org</wp:comment_author_email>
	<wp:comment_author_url/>
	<wp:comment_author_IP>192.0.2.7</wp:comment_author_IP>
	<wp:comment_date>2015-01-20 12:00:00</wp:comment_date>
	<wp:comment_date_gmt>2015-01-20 11:00:00</wp:comment_date_gmt>
	<wp:comment_content><![CDATA[Neu &amp; später]]></wp:comment_content>
	<wp:comment_approved>1</wp:comment_approved>
	<wp:comment_type/>
	<wp:comment_parent>904</wp:comment_parent>
	<wp:comment_user_id>0</wp:comment_user_id>
	</wp:comment>"""


def test_a_newer_export_adds_only_what_is_new(tmp_path):
    conf = make_project(tmp_path / "blog")
    run_cli(conf, "import", "wordpress", str(fixture(WXR)))
    store = Store(conf.parent / "comments")
    before = snapshot(store.root)

    def add_comment(text: str) -> str:
        anchor = text.index("<wp:comment_id>1015</wp:comment_id>")
        end = text.index("</wp:comment>", anchor) + len("</wp:comment>")
        return text[:end] + NEW_COMMENT + text[end:]

    result = run_cli(conf, "import", "wordpress", str(_variant(tmp_path, add_comment)))
    assert "34 read, 1 new, 33 already in the store" in result.output
    after = snapshot(store.root)
    added = set(after) - set(before)
    assert len(added) == 1 and all(after[k] == v for k, v in before.items())
    log = [r for r in store.audit_trail() if r["action"] == "import-wordpress"]
    assert [r["detail"]["new"] for r in log] == [33, 1]
    new = next(e for e in store.all_entries() if e.extra.get("WP-Comment-Id") == "5000")
    parent = next(e for e in store.all_entries() if e.extra.get("WP-Comment-Id") == "904")
    assert new.reply_to == parent.id and new.body == "Neu & später"
    assert new.date == datetime(2015, 1, 20, 11, 0, tzinfo=UTC)
    assert new.extra["Original-Offset"] == "+01:00" and new.ip == "192.0.2.7"


def test_both_namespace_spellings_give_the_same_store(tmp_path):
    https = make_project(tmp_path / "https")
    run_cli(https, "import", "wordpress", str(fixture(WXR)))
    http = make_project(tmp_path / "http")
    old = _variant(tmp_path, lambda t: t.replace("https://wordpress.org/export/",
                                                  "http://wordpress.org/export/"))
    assert "http://wordpress.org/export/1.2/" in old.read_text(encoding="utf-8")
    run_cli(http, "import", "wordpress", str(old))
    assert snapshot(http.parent / "comments") == snapshot(https.parent / "comments")
    assert snapshot(http.parent / "content") == snapshot(https.parent / "content")


def test_malformed_xml_names_the_line_and_imports_nothing(tmp_path):
    conf = make_project(tmp_path / "blog")
    lines = fixture(WXR).read_text(encoding="utf-8").split("\n")
    number = next(i for i, line in enumerate(lines, 1) if "<wp:comment_id>915<" in line)
    lines[number - 1] = "\t<wp:comment_id>915</wp:comment_idd>"
    broken = tmp_path / "broken.xml"
    broken.write_text("\n".join(lines), encoding="utf-8")
    result = run_cli(conf, "import", "wordpress", str(broken), ok=False)
    assert result.exit_code == 1
    assert f"line {number}" in result.output and "not well-formed XML" in result.output
    assert "nothing was imported" in result.output and "Traceback" not in result.output
    assert not list((conf.parent / "content").iterdir())
    assert not Store(conf.parent / "comments").root.exists() or not list(
        Store(conf.parent / "comments").all_entries())


def test_invalid_values_name_their_lines_and_import_nothing(tmp_path):
    conf = make_project(tmp_path / "blog")
    text = fixture(WXR).read_text(encoding="utf-8")
    text = text.replace("<wp:comment_date_gmt>2013-03-14 15:14:47</wp:comment_date_gmt>",
                        "<wp:comment_date_gmt>14.03.2013 15:14</wp:comment_date_gmt>")
    text = text.replace("<wp:comment_approved>0</wp:comment_approved>",
                        "<wp:comment_approved>maybe</wp:comment_approved>", 1)
    broken = tmp_path / "broken.xml"
    broken.write_text(text, encoding="utf-8")
    bad_lines = [i for i, line in enumerate(text.split("\n"), 1)
                 if "14.03.2013" in line or ">maybe<" in line]
    result = run_cli(conf, "import", "wordpress", str(broken), ok=False)
    assert result.exit_code == 1 and "2 problems" in result.output
    assert "malformed date_gmt '14.03.2013 15:14'" in result.output
    assert "unknown comment_approved value 'maybe'" in result.output
    # Each problem names the line of the comment it is in.
    reported = [int(n) for n in re.findall(r"line (\d+):", result.output)]
    assert len(reported) == 2
    assert all(r <= b and b - r < 15 for r, b in zip(reported, sorted(bad_lines), strict=True))
    assert not list((conf.parent / "content").iterdir())


def test_not_a_wordpress_file(tmp_path):
    conf = make_project(tmp_path / "blog")
    other = tmp_path / "feed.xml"
    other.write_text("<rss><channel><item><title>x</title></item></channel></rss>")
    result = run_cli(conf, "import", "wordpress", str(other), ok=False)
    assert result.exit_code == 1 and "not a WordPress export" in result.output


def test_dry_run_writes_nothing(tmp_path):
    conf = make_project(tmp_path / "blog")
    result = run_cli(conf, "import", "wordpress", "--dry-run", str(fixture(WXR)))
    assert "33 read, 33 new" in result.output and "Dry run" in result.output
    assert not list((conf.parent / "content").iterdir())
    assert not (conf.parent / "comments").exists()


def test_entities_declared_in_the_file_are_refused(tmp_path):
    conf = make_project(tmp_path / "blog")
    secret = tmp_path / "secret.txt"
    secret.write_text("geheim")
    text = fixture(WXR).read_text(encoding="utf-8").replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE rss [<!ENTITY x SYSTEM'
        f' "file://{secret}">]>', 1).replace("<![CDATA[Comment Depth 01]]>", "&x;", 1)
    hostile = tmp_path / "hostile.xml"
    hostile.write_text(text, encoding="utf-8")
    result = run_cli(conf, "import", "wordpress", str(hostile), ok=False)
    assert result.exit_code == 1 and "declares a DTD" in result.output
    assert "geheim" not in result.output
    assert not list((conf.parent / "content").iterdir())


def test_edited_content_is_kept_unless_overwrite(tmp_path):
    conf = make_project(tmp_path / "blog")
    run_cli(conf, "import", "wordpress", str(fixture(WXR)))
    post = conf.parent / "content" / "template-comments.md"
    original = post.read_text(encoding="utf-8")
    post.write_text(original + "\nMy own addition.\n", encoding="utf-8")
    result = run_cli(conf, "import", "wordpress", str(WXR))
    assert "0 written, 78 unchanged, 1 kept because they differ" in result.output
    assert f"kept (use --overwrite to replace): {post}" in result.output
    assert post.read_text(encoding="utf-8").endswith("My own addition.\n")
    result = run_cli(conf, "import", "wordpress", "--overwrite", str(WXR))
    assert "1 written, 78 unchanged" in result.output
    assert post.read_text(encoding="utf-8") == original
