"""Approve-to-live: the fast path writes exactly what a full Pelican build writes."""

from __future__ import annotations

import random
from pathlib import Path

from liveserver import wait_for
from sitebuilder import build_site
from test_desk_site import add_entry, make_site, random_entries, settings_for

from replik.moderation import Moderation
from replik.rebuild import Rebuilder, SiteBuilder, is_live, read_status
from replik.settings import load_settings
from replik.store import Store


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def full_build(conf: Path, output: Path) -> dict[str, bytes]:
    return tree(build_site(load_settings(conf, override={"OUTPUT_PATH": str(output)})))


def assert_same(fast: dict[str, bytes], full: dict[str, bytes]) -> None:
    assert sorted(fast) == sorted(full)
    differing = [name for name in full if fast[name] != full[name]]
    assert differing == []


def test_fast_path_equals_full_build_over_random_decisions(tmp_path: Path) -> None:
    conf = make_site(tmp_path / "site", posts=8)
    settings = settings_for(conf)
    store = Store(tmp_path / "site" / "comments")
    rng = random.Random(5)
    entries = random_entries(store, rng, 30, 8)
    builder = SiteBuilder(settings)
    builder.sync()  # the first sync is a full build
    moderation = Moderation(settings, actor="anna")
    output = Path(settings.output_path)
    for step in range(24):
        entry = rng.choice(entries)
        state = store.get(entry.id).state
        if state == "pending":
            action = rng.choice(["approve", "approve", "trash"])
        elif state == "approved":
            action = rng.choice(["trash", "reply", "edit", "reply"])
        else:
            action = rng.choice(["restore", "delete"])
        if action == "reply":
            moderation.reply(entry.id, f"Danke, Antwort {step}!")
        elif action == "edit":
            moderation.edit(entry.id, f"Geänderter Text {step}")
        else:
            moderation.decide(action, entry.id)
        if action == "delete":
            entries.remove(entry)
        written = builder.sync()
        after = store.find(entry.id)
        touched_live = "approved" in (state, after.state if after else "")
        assert bool(written) == touched_live, f"{action} from {state}: {written}"
        if step % 8 == 7:
            assert_same(tree(output), full_build(conf, tmp_path / f"full-{step}"))


def test_replies_leave_and_come_back_with_their_parent_as_in_a_full_build(
        tmp_path: Path) -> None:
    conf = make_site(tmp_path / "site", posts=3)
    settings = settings_for(conf)
    store = Store(tmp_path / "site" / "comments")
    parent = add_entry(store, "post-1", "approved", when=settings_time(), body="Frage")
    builder = SiteBuilder(settings)
    builder.sync()
    moderation = Moderation(settings, actor="anna")
    reply = moderation.reply(parent.id, "Antwort der Redaktion").entry
    output = Path(settings.output_path)
    page = output / "2026" / "post-1" / "index.html"
    steps = [("spam", False), ("ham", False), ("approve", True)]
    for number, (action, shown) in enumerate(steps):
        moderation.decide(action, parent.id)
        builder.sync()
        assert (f'id="comment-{reply.id}"' in page.read_text()) is shown, action
        assert_same(tree(output), full_build(conf, tmp_path / f"full-{number}"))


def test_only_affected_pages_are_rendered(tmp_path: Path) -> None:
    conf = make_site(tmp_path / "site", posts=12)
    settings = settings_for(conf)
    store = Store(tmp_path / "site" / "comments")
    builder = SiteBuilder(settings)
    builder.sync()
    entry = add_entry(store, "post-11", when=settings_time())
    Moderation(settings, "anna").decide("approve", entry.id)
    written = {str(Path(p).relative_to(settings.output_path)) for p in builder.sync()}
    assert "2026/post-11/index.html" in written
    assert "index.html" in written  # the newest post is on the first index page
    assert "index2.html" not in written and "2026/post-0/index.html" not in written
    assert "feeds/comments/post-11.atom.xml" in written
    assert "feeds/comments.atom.xml" in written
    assert builder.sync() == []  # nothing changed since


def settings_time():
    from datetime import UTC, datetime

    return datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def test_rebuilder_batches_runs_hook_and_reports_live(tmp_path: Path) -> None:
    marker = tmp_path / "hook-runs"
    conf = make_site(tmp_path / "site", posts=4, hook=f"echo run >> {marker}")
    settings = settings_for(conf)
    store = Store(tmp_path / "site" / "comments")
    # A window far longer than three decisions take, even on a busy machine.
    rebuilder = Rebuilder(settings, debounce=3.0)
    rebuilder.start()
    try:
        wait_for(lambda: read_status(settings).get("ok_finished"), "the first build", 30)
        runs_before = marker.read_text().count("run")
        moderation = Moderation(settings, "anna")
        asked = []
        for number in range(3):
            entry = add_entry(store, "post-1", when=settings_time(), author=f"L{number}")
            moderation.decide("approve", entry.id)
            asked.append(rebuilder.request())
        wait_for(lambda: is_live(settings, asked[-1]), "the rebuild", 30)
        assert is_live(settings, asked[0])
        page = (Path(settings.output_path) / "2026/post-1/index.html").read_text()
        assert "3 comments" in page
        # Three decisions inside the debounce window make one rebuild, one hook run.
        assert marker.read_text().count("run") == runs_before + 1
    finally:
        rebuilder.stop()


def test_failed_rebuild_is_recorded_and_retried(tmp_path: Path) -> None:
    flag = tmp_path / "fail"
    flag.write_text("x")
    conf = make_site(tmp_path / "site", posts=2, hook=f"test ! -e {flag}")
    settings = settings_for(conf)
    rebuilder = Rebuilder(settings, debounce=0.01, retry_delays=(0.2,))
    asked = rebuilder.request()
    try:
        wait_for(lambda: "publish hook" in read_status(settings).get("error", ""),
                 "the failed hook", 30)
        assert "publish hook exited with 1" in read_status(settings)["error"]
        assert not is_live(settings, asked)
        flag.unlink()
        wait_for(lambda: is_live(settings, asked), "the retry", 30)
        assert read_status(settings)["error"] == ""
    finally:
        rebuilder.stop()


def waiting_for_lock(lock: Path) -> bool:
    """Whether someone waits for a flock on ``lock``: the kernel lists each waiter in
    /proc/locks with "->" before the lock and the file's inode at the end of its device."""
    inode = f":{lock.stat().st_ino}"
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and any(field.endswith(inode) for field in fields):
            return True
    return False


def test_two_rebuilds_never_run_at_once(tmp_path: Path) -> None:
    from replik.rebuild import LOCK_NAME
    from replik.state import open_state

    conf = make_site(tmp_path / "site", posts=2)
    settings = settings_for(conf)
    rebuilder = Rebuilder(settings, debounce=0.01)
    state = open_state(settings)
    lock = state.db.lock_path(LOCK_NAME)
    try:
        # Another process's rebuild holds the lock: ours waits for it.
        with state.mutex(LOCK_NAME):
            asked = rebuilder.request()
            wait_for(lambda: waiting_for_lock(lock), "the rebuild to wait for the lock", 30)
            assert not is_live(settings, asked)
        wait_for(lambda: is_live(settings, asked), "the rebuild after the lock", 30)
    finally:
        rebuilder.stop()


def test_the_rebuild_lock_holds_when_the_cache_is_deleted(tmp_path: Path) -> None:
    """The lock is not in the cache: clearing the cache while a rebuild holds it must
    not let a second rebuild in beside it."""
    import fcntl
    import shutil

    from replik.rebuild import LOCK_NAME
    from replik.settings import cache_path
    from replik.state import open_state

    conf = make_site(tmp_path / "site", posts=2)
    settings = settings_for(conf)
    cache_path(settings).mkdir(parents=True, exist_ok=True)
    state = open_state(settings)
    with state.mutex(LOCK_NAME):
        shutil.rmtree(cache_path(settings))
        with open(state.db.lock_path(LOCK_NAME), "a+b") as other:
            try:
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                raise AssertionError("a second holder got the rebuild lock")


def test_content_change_means_a_full_build(tmp_path: Path) -> None:
    conf = make_site(tmp_path / "site", posts=2)
    settings = settings_for(conf)
    builder = SiteBuilder(settings)
    builder.sync()
    assert builder.sync() == []
    post = tmp_path / "site" / "content" / "post-9.md"
    post.write_text("Title: Neu\nDate: 2026-03-05 10:00\nSlug: post-9\n\nNeu.\n")
    written = builder.sync()
    assert any(p.endswith("post-9/index.html") for p in written)
    assert_same(tree(Path(settings.output_path)), full_build(conf, tmp_path / "full"))
