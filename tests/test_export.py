"""`replik export`: JSON round trips exactly; WXR is what WordPress's importer reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from test_import_wordpress import WXR, fixture, make_project, run_cli, snapshot

from replik.importers.jsonio import state_tables
from replik.store import Entry, Store, new_id

WP = "http://wordpress.org/export/1.2/"


def test_wxr_to_store_to_json_to_empty_store_is_identical(tmp_path):
    conf = make_project(tmp_path / "blog")
    run_cli(conf, "import", "wordpress", str(fixture(WXR)))
    store = Store(conf.parent / "comments")
    # Every state and every field, not only what WordPress had.
    moved = next(e for e in store.entries("approved") if e.extra["WP-Comment-Id"] == "925")
    store.move(moved.id, "spam")
    store.add(Entry(id=new_id(), article="template-comments", body="Zeile 1\nZeile 2\\n",
                    date=datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC),
                    type="webmention", author="Ö", url="https://a.example/", title="T",
                    source="https://a.example/post", spam_verdict="ham", spam_reason="r",
                    email="x@a.example", ip="2001:db8::1", user_agent="UA/1",
                    referrer="https://ref.example/", staff=True,
                    extra={"X-Custom": "ä: b"}), "trash")
    exported = tmp_path / "backup.json"
    run_cli(conf, "export", "--format", "json", "-o", str(exported))
    data = json.loads(exported.read_text(encoding="utf-8"))
    assert len(data["entries"]) == 34
    assert {e["state"] for e in data["entries"]} == {"approved", "pending", "spam", "trash"}
    hook = next(e for e in data["entries"] if e["type"] == "webmention")
    assert hook["user_agent"] == "UA/1" and hook["extra"] == {"X-Custom": "ä: b"}

    other = make_project(tmp_path / "restored")
    result = run_cli(other, "import", "json", str(exported))
    assert "34 new" in result.output
    assert snapshot(other.parent / "comments") == snapshot(store.root)
    again = run_cli(other, "import", "json", str(exported))
    assert "0 new, 34 already in the store" in again.output


def test_json_import_refuses_bad_files_whole(tmp_path):
    conf = make_project(tmp_path / "blog")
    bad = tmp_path / "bad.json"
    good = {"id": new_id(), "article": "a", "date": "2020-01-01T00:00:00+00:00", "body": "x",
            "state": "approved"}
    bad.write_text(json.dumps({"format": "replik-comments", "version": 1, "entries": [
        good, dict(good, id=new_id(), date="yesterday"), dict(good, id=new_id(), state="x")]}))
    result = run_cli(conf, "import", "json", str(bad), ok=False)
    assert result.exit_code == 1 and "2 problems" in result.output
    assert "malformed date 'yesterday'" in result.output
    assert "unknown state 'x'" in result.output
    assert not (conf.parent / "comments").exists()
    bad.write_text('{"format": "replik-comments",\n "version": 1,\n "entries": [,]}')
    result = run_cli(conf, "import", "json", str(bad), ok=False)
    assert "line 3: not valid JSON" in result.output


def test_wxr_export_is_wordpress_comments(tmp_path):
    conf = make_project(tmp_path / "blog")
    run_cli(conf, "import", "wordpress", str(fixture(WXR)))
    out = tmp_path / "export.xml"
    run_cli(conf, "export", "--format", "wxr", "-o", str(out))
    root = etree.parse(str(out)).getroot()
    assert root.tag == "rss" and root.nsmap["wp"] == WP
    assert root.findtext(f"channel/{{{WP}}}wxr_version") == "1.2"
    items = {i.findtext(f"{{{WP}}}post_name"): i for i in root.iter("item")}
    comments = {c.findtext(f"{{{WP}}}comment_id"): c
                for i in items.values() for c in i.iter(f"{{{WP}}}comment")}
    assert len(comments) == 33
    c = comments["905"]
    assert c.getparent() is items["template-comments"]
    assert c.findtext(f"{{{WP}}}comment_parent") == "904"
    assert c.findtext(f"{{{WP}}}comment_date_gmt") == "2013-03-14 15:01:21"
    assert c.findtext(f"{{{WP}}}comment_date") == "2013-03-14 08:01:21"
    assert c.findtext(f"{{{WP}}}comment_approved") == "1"
    assert comments["1015"].findtext(f"{{{WP}}}comment_approved") == "0"
    assert comments["921"].findtext(f"{{{WP}}}comment_type") == "trackback"
    assert items["template-comments"].findtext("title") == "Template: Comments"
    assert "<p>" in comments["900"].findtext(f"{{{WP}}}comment_content")

    # Our WordPress importer reads it back to the same comments and threads.
    again = make_project(tmp_path / "again")
    run_cli(again, "import", "wordpress", str(out))
    first = {e.extra["WP-Comment-Id"]: e for e in Store(conf.parent / "comments").all_entries()}
    second = {e.extra["WP-Comment-Id"]: e for e in Store(again.parent / "comments").all_entries()}
    assert set(first) == set(second)
    for key, entry in first.items():
        copy = second[key]
        assert (copy.state, copy.date, copy.type, copy.author, copy.email) == (
            entry.state, entry.date, entry.type, entry.author, entry.email)
        parent = first[key].reply_to and next(
            k for k, e in first.items() if e.id == entry.reply_to)
        copy_parent = copy.reply_to and next(
            k for k, e in second.items() if e.id == copy.reply_to)
        assert parent == copy_parent


def test_export_to_stdout(tmp_path: Path):
    conf = make_project(tmp_path / "blog")
    result = run_cli(conf, "export")
    document = json.loads(result.output)
    assert document.pop("state") == {table: [] for table in state_tables()}
    assert document == {"format": "replik-comments", "version": 2, "entries": [], "audit": []}
