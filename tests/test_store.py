"""The file store: its format, its folders, many processes, crashes (what every store
promises is in test_store_contract.py)."""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from replik.store import (
    BadEntryFile,
    Entry,
    EntryNotFound,
    Store,
    StoreError,
    is_valid_id,
    new_id,
    parse,
    serialize,
)

PLUGINS = str(Path(__file__).resolve().parents[1] / "plugins")


def make_entry(article: str = "post", body: str = "Hallo", **fields) -> Entry:
    fields.setdefault("author", "Anna")
    return Entry(id=new_id(), article=article, body=body,
                 date=datetime(2010, 3, 5, 10, 47, tzinfo=UTC), **fields)


def test_ids_are_unique_and_sort_by_time():
    early = new_id(datetime(2020, 1, 1, tzinfo=UTC))
    late = new_id(datetime(2020, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert is_valid_id(early) and is_valid_id(late)
    assert early < late
    assert len({new_id() for _ in range(1000)}) == 1000
    assert new_id(datetime(2020, 1, 1, tzinfo=UTC), "0badcafe").endswith("Z-0badcafe")


def test_serialize_round_trip_keeps_everything_exactly():
    entry = make_entry(
        body="Zeile 1\r\n\r\nZeile 2 mit Umlauten äöü und <script>\n",
        author="Name mit\nZeilenumbruch \\ und Backslash",
        email="anna@example.org", ip="203.0.113.5", user_agent="UA/1.0",
        referrer="https://example.org/x", reply_to=new_id(), staff=True,
        spam_verdict="ham", spam_reason="akismet", extra={"Webmention-Kind": "reply"},
    )
    again = parse(serialize(entry), "pending")
    assert again == entry
    assert again.body == entry.body


def test_file_format_is_headers_blank_line_body():
    entry = make_entry(body="Der Text.")
    text = serialize(entry).decode()
    head, body = text.split("\n\n", 1)
    assert body == "Der Text."
    assert f"Id: {entry.id}" in head.splitlines()
    assert "Date: 2010-03-05T10:47:00+00:00" in head.splitlines()


@pytest.mark.parametrize("data, message", [
    (b"Id: x\nArticle: a\n", "no blank line"),
    (b"Id: x\nArticle: a\nnot a header\n\nbody", "header line 3"),
    (b"Article: a\nDate: 2010-03-05T10:47:00+00:00\n\nbody", "'Id' is missing"),
    (b"Id: x\nArticle: a\nDate: yesterday\n\nbody", "not an ISO 8601 date"),
    (b"Id: x\nArticle: a\nDate: 2010-03-05T10:47:00\n\nbody", "no time zone"),
    (b"Id: x\nArticle: a\nType: like\nDate: 2010-03-05T10:47:00+00:00\n\nb", "unknown Type"),
    (b"Id: x\nArticle: a\nDate: 2010-03-05T10:47:00+00:00\n\n\xff\xfe", "not UTF-8"),
])
def test_bad_files_give_clear_errors(data, message):
    with pytest.raises(BadEntryFile, match=message):
        parse(data, origin="comments/pending/x.txt")


def test_every_state_change(tmp_path):
    store = Store(tmp_path)
    entry = store.add(make_entry())
    assert (tmp_path / "pending" / f"{entry.id}.txt").exists()
    assert store.get(entry.id).state == "pending"
    store.move(entry.id, "approved")
    assert (tmp_path / "approved" / "post" / f"{entry.id}.txt").exists()
    assert not (tmp_path / "pending" / f"{entry.id}.txt").exists()
    for state in ("spam", "trash", "pending", "approved"):
        assert store.move(entry.id, state).state == state
        assert store.get(entry.id).state == state
        assert len(list(tmp_path.rglob(f"{entry.id}.txt"))) == 1
    changed = store.get(entry.id)
    changed.body = "Neuer Text"
    store.update(changed)
    assert store.get(entry.id).body == "Neuer Text"
    assert store.get(entry.id).state == "approved"
    store.delete(entry.id)
    with pytest.raises(EntryNotFound):
        store.get(entry.id)
    assert list(tmp_path.rglob(f"{entry.id}*")) == []


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_add_makes_missing_folders_and_leaves_nothing_in_tmp(tmp_path):
    store = Store(tmp_path / "neu")  # no folder exists yet, not even tmp/
    first = store.add(make_entry(article="erster", body="Eins"), "approved")
    second = store.add(make_entry(article="erster", body="Zwei"), "approved", fresh=True)
    third = store.add(make_entry(article="zweiter", body="Drei"), fresh=True)
    assert sorted(e.body for e in store.entries("approved", "erster")) == ["Eins", "Zwei"]
    assert store.get(third.id).state == "pending"
    assert {first.state, second.state} == {"approved"}
    # Entries hold personal data: not readable by others.
    mode = os.stat(tmp_path / "neu" / "pending" / f"{third.id}.txt").st_mode & 0o777
    assert oct(mode) == oct(0o640 & ~_umask())
    assert list((tmp_path / "neu" / "tmp").iterdir()) == []


def test_refuses_duplicates_unknown_states_and_bad_slugs(tmp_path):
    store = Store(tmp_path)
    entry = store.add(make_entry())
    with pytest.raises(StoreError, match="exists already"):
        store.add(replace(entry))
    with pytest.raises(StoreError, match="exists already"):
        store.add(replace(entry, body="Anders"), fresh=True)  # same id, same state
    assert store.get(entry.id).body == entry.body  # the first one stays
    assert list((tmp_path / "tmp").iterdir()) == []
    with pytest.raises(StoreError, match="unknown state"):
        store.move(entry.id, "published")
    with pytest.raises(StoreError, match="article"):
        store.add(make_entry(article="../etc"), "approved")
    with pytest.raises(EntryNotFound):
        store.move(new_id(), "approved")


def test_bad_files_are_skipped_with_a_warning_naming_them(tmp_path, caplog):
    store = Store(tmp_path)
    good = store.add(make_entry(), "approved")
    bad = tmp_path / "approved" / "post" / "20100101T000000000000Z-deadbeef.txt"
    bad.write_text("garbage without header\n")
    entries = list(store.entries("approved"))
    assert [e.id for e in entries] == [good.id]
    assert str(bad) in caplog.text


def test_add_many_writes_every_entry_where_add_would(tmp_path):
    store = Store(tmp_path / "neu")  # no folder exists yet
    items = [(make_entry(article="erster", body="Eins"), "approved"),
             (make_entry(article="zweiter", body="Zwei\n\nmit Absatz"), "approved"),
             (make_entry(article="erster", body="Drei"), "pending"),
             (make_entry(article="erster", body="Vier", email="a@example.org"), "spam")]
    assert store.add_many(items) == []
    for entry, state in items:
        assert entry.state == state
        stored = store.get(entry.id)
        assert stored == entry and stored.state == state
        assert (tmp_path / "neu" / state).is_dir()
    assert store.ids() == {entry.id for entry, _state in items}
    assert list((tmp_path / "neu" / "tmp").iterdir()) == []


def test_add_many_leaves_a_taken_id_alone_and_says_so(tmp_path):
    store = Store(tmp_path)
    first = store.add(make_entry(body="Zuerst"), "approved")
    again = replace(first, body="Später")
    other = make_entry(body="Neu")
    assert store.add_many([(again, "approved"), (other, "approved")]) == [again]
    assert store.get(first.id).body == "Zuerst"
    assert store.get(other.id).body == "Neu"
    assert list((tmp_path / "tmp").iterdir()) == []
    with pytest.raises(StoreError, match="invalid entry id"):
        store.add_many([(make_entry(body="a"), "pending"), (replace(other, id="x"), "pending")])
    assert store.ids() == {first.id, other.id}  # nothing of the refused batch is in
    assert list((tmp_path / "tmp").iterdir()) == []


ADD_MANY_CRASH = textwrap.dedent("""
    import os, signal, sys
    from datetime import UTC, datetime
    sys.path.insert(0, {plugins!r})
    import replik.store as S

    def crash(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    os.sync = crash  # every file written, none yet flushed nor named
    S.Store(sys.argv[1]).add_many(
        [(S.Entry(id=S.new_id(), article="post", body="x" * 5000,
                  date=datetime.now(UTC)), "approved") for _ in range(50)])
""")


def test_add_many_names_no_file_before_it_is_on_disk(tmp_path):
    script = tmp_path / "crash.py"
    script.write_text(ADD_MANY_CRASH.format(plugins=PLUGINS))
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "comments")])
    assert result.returncode == -9
    store = Store(tmp_path / "comments")
    assert store.ids() == set()
    assert len(list((tmp_path / "comments" / "tmp").iterdir())) == 50  # for sweep()


def test_ids_are_the_names_of_entry_files_in_every_state(tmp_path):
    store = Store(tmp_path)
    assert store.ids() == set()
    made = {store.add(make_entry(article=article), state).id
            for article, state in [("a", "approved"), ("b", "approved"), ("a", "pending"),
                                   ("a", "spam"), ("a", "trash")]}
    (tmp_path / "approved" / "a" / ".hidden.txt").write_text("x")
    (tmp_path / "pending" / "notes.md").write_text("x")
    assert store.ids() == made


def _writer(root: str, worker: int, count: int, queue) -> None:
    store = Store(root)
    ids = []
    rng = random.Random(worker)
    for n in range(count):
        entry = store.add(make_entry(article=f"post-{n % 3}", body=f"w{worker} n{n}"))
        ids.append(entry.id)
        # Move some entries around while the other processes do the same.
        if rng.random() < 0.5:
            victim = rng.choice(ids)
            try:
                store.move(victim, rng.choice(["approved", "spam", "trash", "pending"]))
            except (EntryNotFound, StoreError):
                pass
    queue.put(ids)


def test_many_processes_write_and_move_at_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 150, queue)) for w in range(4)]
    for proc in procs:
        proc.start()
    written = [i for _ in procs for i in queue.get(timeout=60)]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    store = Store(tmp_path)
    on_disk = [e.id for e in store.all_entries(on_error="raise")]
    assert sorted(on_disk) == sorted(written)  # every entry exactly once
    assert len(set(written)) == 4 * 150
    assert list((tmp_path / "tmp").iterdir()) == []


CRASH_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {plugins!r})
    from datetime import UTC, datetime
    from replik import store as S
    where = sys.argv[2]
    def crash(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    if where == "before-fsync":
        S.os.fsync = crash  # the data is written but not yet flushed
    else:
        S.os.link = crash   # flushed, but not yet renamed into its state
    s = S.Store(sys.argv[1])
    s.add(S.Entry(id=S.new_id(), article="post", body="x" * 100000,
                  date=datetime.now(UTC)))
""")


@pytest.mark.parametrize("where", ["before-fsync", "before-rename"])
def test_a_crash_mid_write_leaves_no_visible_entry(tmp_path, where):
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT.format(plugins=PLUGINS))
    store_root = tmp_path / "comments"
    result = subprocess.run([sys.executable, str(script), str(store_root), where])
    assert result.returncode == -9
    store = Store(store_root)
    assert list(store.all_entries(on_error="raise")) == []
    leftovers = list((store_root / "tmp").iterdir())
    assert len(leftovers) == 1  # only the stray temporary file
    old = (datetime.now() - timedelta(days=3)).timestamp()
    os.utime(leftovers[0], (old, old))
    assert store.sweep() == leftovers
    assert list((store_root / "tmp").iterdir()) == []


def test_an_interrupted_edit_is_put_back_by_sweep(tmp_path):
    store = Store(tmp_path)
    entry = store.add(make_entry(), "approved")
    held = tmp_path / "tmp" / f"{entry.id}.txt.held.approved~post"
    # What update() does first; then the process dies.
    os.rename(tmp_path / "approved" / "post" / f"{entry.id}.txt", held)
    old = (datetime.now() - timedelta(minutes=5)).timestamp()
    os.utime(held, (old, old))
    store.sweep()
    assert store.get(entry.id).state == "approved"


def test_public_copy_drops_private_fields():
    entry = make_entry(email="a@example.org", ip="198.51.100.1", user_agent="UA",
                       referrer="https://r.example/")
    public = entry.public()
    assert (public.email, public.ip, public.user_agent, public.referrer) == ("", "", "", "")
    assert public.author == "Anna"


def test_read_bytes_reads_files_of_any_size(tmp_path):
    from replik.store import read_bytes

    for size in (0, 1, 65535, 65536, 65537, 300_000):
        path = tmp_path / f"f{size}"
        data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        path.write_bytes(data)
        assert read_bytes(str(path)) == data
    with pytest.raises(FileNotFoundError):
        read_bytes(str(tmp_path / "missing"))


# -- decisions: compare-and-set, all or nothing, interrupted changes ------------------------


def test_two_processes_deciding_from_the_same_state_one_wins(tmp_path):
    """Many rounds of two processes moving one entry from pending to different states:
    each round exactly one wins, and the entry is where the winner put it."""
    ctx = multiprocessing.get_context("fork")
    store = Store(tmp_path)
    ids = [store.add(make_entry()).id for _ in range(40)]
    queue = ctx.Queue()
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_decider, args=(str(tmp_path), ids, target, start, queue))
             for target in ("approved", "spam")]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    won = {target: set(won) for target, won in results}
    assert won["approved"].isdisjoint(won["spam"])
    assert won["approved"] | won["spam"] == set(ids)
    for entry_id in ids:
        assert store.get(entry_id).state == ("approved" if entry_id in won["approved"]
                                             else "spam")


def _decider(root, ids, target, start, queue):
    from replik.store import StateChanged

    store = Store(root)
    start.wait()
    won = []
    for entry_id in ids:
        try:
            store.move(entry_id, target, expected="pending")
            won.append(entry_id)
        except StateChanged:
            pass
    queue.put((target, won))


def _full(*_args, **_kwargs):
    raise OSError(28, "No space left on device")


def test_each_change_is_undone_when_its_record_fails(tmp_path):
    store = Store(tmp_path)
    entry = store.add(make_entry(), "pending")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.txt")}
    with pytest.raises(OSError):
        store.move(entry.id, "approved", expected="pending", record=_full)
    with pytest.raises(OSError):
        store.update(replace(entry, body="Neu"), record=_full)
    with pytest.raises(OSError):
        store.delete(entry.id, record=_full)
    with pytest.raises(OSError):
        store.add(make_entry(), "approved", record=_full)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.txt")} == before
    assert store.get(entry.id).state == "pending"
    assert list((tmp_path / "tmp").iterdir()) == []


EDIT_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {plugins!r})
    from replik import store as S
    def stop(*args, **kwargs):
        print("held", flush=True)  # the old version is held in tmp/ now
        sys.stdin.readline()       # wait here until the test kills us
    S.write_temp = stop
    s = S.Store(sys.argv[1])
    entry = s.get(sys.argv[2])
    entry.body = "Neuer Text"
    s.update(entry)
""")


def interrupted_edit(store_root: Path, entry_id: str) -> subprocess.Popen:
    """Start an edit of ``entry_id`` in another process and stop it with its old version
    held in tmp/; the caller kills it (kill -9) or lets it be."""
    script = store_root.parent / "edit.py"
    script.write_text(EDIT_SCRIPT.format(plugins=PLUGINS))
    proc = subprocess.Popen([sys.executable, str(script), str(store_root), entry_id],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_killed_edit_is_put_back_and_a_live_one_is_left_alone(tmp_path):
    store_root = tmp_path / "comments"
    store = Store(store_root)
    entry = store.add(make_entry(), "approved")
    proc = interrupted_edit(store_root, entry.id)
    try:
        [held] = (store_root / "tmp").iterdir()
        assert held.name == f"{entry.id}.txt.held.approved~post"
        assert store.find(entry.id) is None
        assert store.sweep() == []  # a live edit holds its copy: not put back
        assert held.exists()
    finally:
        proc.kill()  # kill -9 in the middle of the edit
        proc.wait()
    assert store.sweep() == [held]  # however young the copy: its process is dead
    again = store.get(entry.id)
    assert (again.state, again.body) == ("approved", "Hallo")
    assert list((store_root / "tmp").iterdir()) == []


def audit_disk_full(monkeypatch) -> None:
    """Make every audit record fail to be written, as on a full disk."""
    monkeypatch.setattr(Store, "audit", _full)


def test_an_entry_moved_while_it_is_looked_up_is_found_where_it_went(tmp_path, monkeypatch):
    """A lookup racing a move (another process's rename between seeing the file and
    reading it) finds the entry in its new state: no error, no "not found"."""
    store = Store(tmp_path)
    entry = store.add(make_entry())
    pending = tmp_path / "pending" / f"{entry.id}.txt"
    import replik.store as store_module

    original = store_module.read_bytes
    moved = []

    def read_after_a_move(path: str) -> bytes:
        if Path(path) == pending and not moved:
            (tmp_path / "spam").mkdir(exist_ok=True)
            os.rename(pending, tmp_path / "spam" / pending.name)  # the other process
            moved.append(path)
        return original(path)

    monkeypatch.setattr(store_module, "read_bytes", read_after_a_move)
    found = store.find(entry.id)
    assert moved and found is not None and found.state == "spam"
    assert [e.id for e in store.entries("pending")] == []
