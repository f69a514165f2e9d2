"""The thread cache: a second build reuses unchanged threads, writes the same bytes,
and reads again whatever changed, whatever the cache holds."""

from __future__ import annotations

import logging
import marshal
from dataclasses import replace
from pathlib import Path

import pytest
from sitebuilder import ROOT, add_entry, build, small_site, snapshot, utc, write_conf

from replik import thread_cache
from replik.store import (
    SUFFIX,
    Store,
    entry_from_record,
    entry_record,
    parse,
    read_bytes,
)
from replik.thread_cache import ThreadCache


def _project(root: Path) -> None:
    small_site(root, [("eins", "Eins", "2010-03-01 09:00"), ("zwei", "Zwei", "2010-03-02 09:00")])
    first = add_entry(root, "eins", "Erster *Kommentar*", utc(2010, 3, 5, 10, 47),
                      author="Anna", url="https://anna.example")
    add_entry(root, "eins", "Antwort auf www.example.org", utc(2010, 3, 5, 11, 2),
              author="Redaktion", staff=True, reply_to=first.id)
    add_entry(root, "eins", "Ein Blog verlinkt hierher.", utc(2010, 3, 6, 8, 0),
              type="pingback", title="Ein anderes Blog", source="https://other.example/p")
    add_entry(root, "zwei", "Zweiter", utc(2010, 3, 6, 10, 47), author="Bernd")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    _project(tmp_path)
    return tmp_path


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[ThreadCache]:
    """Each build's cache, to ask how many threads it reused and kept. (Not from the
    log: Pelican's log filter drops a message it has seen before in the process.)"""
    seen: list[ThreadCache] = []
    load = ThreadCache.load

    def recording(folder: str) -> ThreadCache:
        seen.append(load(folder))
        return seen[-1]

    monkeypatch.setattr(ThreadCache, "load", recording)
    return seen


def counts(builds: list[ThreadCache]) -> list[tuple[int, int]]:
    """(threads reused, threads kept) of each build."""
    return [(cache.reused, len(cache._kept)) for cache in builds]


def test_a_second_build_reuses_every_thread_and_writes_the_same_bytes(
        project: Path, builds: list[ThreadCache]) -> None:
    out = build(project)
    cold = snapshot(out)
    assert counts(builds) == [(0, 2)]
    folder = project / ".replik-cache" / "threads"
    assert [p.name for p in folder.iterdir()] == [thread_cache.NAME]
    build(project)
    assert counts(builds)[-1] == (2, 2)
    assert [p.name for p in folder.iterdir()] == [thread_cache.NAME]  # nothing left over
    assert snapshot(out) == cold
    assert b"<em>Kommentar</em>" in (out / "eins" / "index.html").read_bytes()


def test_what_changed_is_read_again(project: Path, builds: list[ThreadCache]) -> None:
    build(project)
    store = Store(project / "comments")
    zweiter = next(store.entries("approved", "zwei"))
    # Edited in place (as `replik edit` does), then a new comment and one marked spam.
    store.update(replace(zweiter, body="Zweiter, verbessert"))
    neu = add_entry(project, "eins", "Ganz neu", utc(2010, 3, 7, 9, 0), author="Clara")
    erster = min(store.entries("approved", "eins"), key=lambda e: e.date)
    out = build(project)
    assert counts(builds)[-1] == (0, 2)
    eins = (out / "eins" / "index.html").read_text()
    assert "Ganz neu" in eins and neu.id in eins
    assert "Zweiter, verbessert" in (out / "zwei" / "index.html").read_text()
    store.move(erster.id, "spam")
    build(project)
    assert counts(builds)[-1] == (1, 2)
    eins = (out / "eins" / "index.html").read_text()
    assert erster.id not in eins and "Erster" not in eins and "Ganz neu" in eins


def test_a_broken_or_foreign_cache_means_building_anew(
        project: Path, builds: list[ThreadCache]) -> None:
    out = build(project)
    cold = snapshot(out)
    cache = project / ".replik-cache" / "threads" / thread_cache.NAME
    good = cache.read_bytes()
    length = int.from_bytes(good[-8:], "little")
    key, threads = marshal.loads(good[-8 - length:-8])
    body = good[:-8 - length]

    def made(index: object) -> bytes:
        data = marshal.dumps(index)
        return body + data + len(data).to_bytes(8, "little")

    place = threads["eins"]
    damages = [
        good[:40],  # cut short
        good[:-3],
        b"\0" * len(good),  # garbage
        b"not marshal",
        b"",
        made(("another version", threads)),
        made((key, {**threads, "eins": (("x",) * 2, *place[1:])})),  # another folder's
        made((key, {**threads, "eins": (*place[:3], place[3] + 1, place[4])})),  # HTML moved
        made((key, {**threads, "eins": (*place[:1], len(good), *place[2:])})),  # beyond the end
        made((key, {"eins": 7, "zwei": ("x",) * 5})),  # ours in form, not in content
        made((key, 7)),
    ]
    for damage in damages:
        cache.write_bytes(damage)
        build(project)
        assert snapshot(out) == cold
    cache.unlink()
    build(project)
    assert snapshot(out) == cold and counts(builds)[-1] == (0, 2)


def test_a_folder_with_a_bad_file_is_never_kept(project: Path, builds: list[ThreadCache],
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    (project / "comments" / "approved" / "zwei" / f"20100306T000000000000Z-0000beef{SUFFIX}"
     ).write_text("no header here")
    build(project)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("0000beef" in w for w in warnings), warnings
    # Kept without its bad file, the next build would skip it (and its warning).
    build(project)
    assert counts(builds) == [(0, 1), (1, 1)]  # only "eins" is kept, and then reused
    stamp = Store(project / "comments").approved_stamps()["zwei"]
    assert ThreadCache.load(project / ".replik-cache" / "threads").entries_for(
        "zwei", stamp) is None


def test_no_cache_folder_no_cache(project: Path) -> None:
    write_conf(project, REPLIK_CACHE="")
    out = build(project)
    first = snapshot(out)
    build(project)
    assert snapshot(out) == first
    assert not (project / "threads").exists() and not (project / ".replik-cache").exists()


def test_another_code_key_reuses_nothing(project: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    build(project)
    folder = project / ".replik-cache" / "threads"
    stamp = Store(project / "comments").approved_stamps()["eins"]
    assert ThreadCache.load(folder).entries_for("eins", stamp) is not None
    monkeypatch.setattr(thread_cache, "code_key", lambda: "the next release")
    assert ThreadCache.load(folder).entries_for("eins", stamp) is None


def test_a_kept_thread_is_known_by_its_change_stamp(project: Path) -> None:
    build(project)
    folder = project / ".replik-cache" / "threads"
    store = Store(project / "comments")
    cache = ThreadCache.load(folder)
    entries = cache.entries_for("eins", store.approved_stamps()["eins"])
    assert entries is not None and len(entries) == 3
    expected = sorted(store.approved_by_article(public_only=True, bodies=False)["eins"],
                      key=lambda e: e.id)
    assert sorted(entries, key=lambda e: e.id) == expected
    assert set(cache.html_for("eins", entries) or {}) == {e.id for e in entries}
    cache.finish()
    # Any change through the store is another stamp, even one to the same text.
    store.update(store.get(entries[0].id))
    assert ThreadCache.load(folder).entries_for("eins", store.approved_stamps()["eins"]) \
        is None


def test_an_entry_record_makes_the_entry_a_build_reads() -> None:
    # Every approved entry of the sample blog's store: comments, replies, staff
    # answers, pingbacks, webmentions with their extra headers.
    paths = sorted((ROOT / "comments" / "approved").glob(f"*/*{SUFFIX}"))
    assert len(paths) > 10
    for path in paths:
        entry = parse(read_bytes(str(path)), "approved", str(path), keep_private=False,
                      keep_body=False)
        again = entry_from_record(marshal.loads(marshal.dumps(entry_record(entry))))
        assert again == entry and again.date.utcoffset() == entry.date.utcoffset()
        assert again.extra == entry.extra
