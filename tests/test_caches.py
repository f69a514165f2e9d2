"""Derived caches are invisible in the output; feeds are rewritten only when they change."""

from __future__ import annotations

import shutil

from sitebuilder import add_entry, build, small_site, snapshot, utc, write_conf

from replik.store import Store


def _project(root):
    small_site(root, [("eins", "Eins", "2010-03-01 09:00"), ("zwei", "Zwei", "2010-03-02 09:00")])
    add_entry(root, "eins", "Erster", utc(2010, 3, 5, 10, 47), author="Anna")
    add_entry(root, "zwei", "Zweiter", utc(2010, 3, 6, 10, 47), author="Bernd")


def test_output_is_the_same_with_and_without_caches(tmp_path):
    cached, plain = tmp_path / "cached", tmp_path / "plain"
    for root in (cached, plain):
        root.mkdir()
        _project(root)
    shutil.rmtree(plain / "comments")
    shutil.copytree(cached / "comments", plain / "comments")
    write_conf(plain, REPLIK_CACHE="")
    build(cached)
    first = snapshot(cached / "output")
    build(cached)  # now from warm caches
    assert snapshot(cached / "output") == first
    build(plain)
    assert snapshot(plain / "output") == first
    assert not (plain / ".replik-cache").exists()


def test_unchanged_feeds_are_not_rewritten_changed_ones_are(tmp_path):
    _project(tmp_path)
    out = build(tmp_path)
    eins = out / "feeds" / "comments" / "eins.atom.xml"
    zwei = out / "feeds" / "comments" / "zwei.atom.xml"
    stamps = eins.stat().st_mtime_ns, zwei.stat().st_mtime_ns
    new = add_entry(tmp_path, "zwei", "Noch einer", utc(2010, 3, 7, 10, 0), state="pending",
                    author="Clara")
    Store(tmp_path / "comments").move(new.id, "approved")
    build(tmp_path)
    assert eins.stat().st_mtime_ns == stamps[0]
    assert zwei.stat().st_mtime_ns != stamps[1]
    assert b"Noch einer" in zwei.read_bytes()
    eins.unlink()  # a deleted output file is written again
    build(tmp_path)
    assert b"Erster" in eins.read_bytes()


def test_feeds_come_back_into_an_emptied_output(tmp_path):
    _project(tmp_path)
    out = build(tmp_path)
    before = {p.relative_to(out): p.read_bytes() for p in (out / "feeds").rglob("*.xml")}
    assert len(before) == 6  # two articles and the site, each in Atom and RSS
    shutil.rmtree(out)
    build(tmp_path)
    after = {p.relative_to(out): p.read_bytes() for p in (out / "feeds").rglob("*.xml")}
    assert after == before
    assert not (tmp_path / ".replik-cache" / "feeds").exists()  # no copies kept aside
