"""`replik db migrate`: files to PostgreSQL and back loses nothing (real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_import_wordpress import WXR, fixture, make_project, run_cli, snapshot

from replik import pg
from replik.importers.jsonio import dump_state, entry_to_json
from replik.pgstore import PgStore
from replik.spam import held_bodies
from replik.state import FILE_NAME, Job, State
from replik.store import Entry, Store, new_id


def _everything(store, state: State) -> tuple[dict, list, dict]:
    entries = {e.id: entry_to_json(e) for e in store.all_entries(on_error="raise")}
    return entries, list(store.audit_trail()), dump_state(state)


def _fill(store: Store, state: State) -> None:
    """Our own entries beside the fixture's: every type and state, private fields,
    a reply, a staff reply, linkbacks, audit records with details, state rows."""
    when = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
    parent = Entry(id=new_id(when), article="hello-world", body="Erste Zeile\n\nZweite ü\\n ",
                   date=when.astimezone(timezone(timedelta(hours=2))),
                   author="Jürgen", url="https://j.example/", email="j@example.org",
                   ip="2001:db8::7", user_agent="UA/1 (x; y)", referrer="https://r.example/p",
                   spam_verdict="ham", spam_reason="akismet: ham", extra={"X-Via": "form: a"})
    store.add(parent, "approved", record=lambda: store.audit("desk", "approve", parent.id,
                                                             "pending", "approved", why="ok"))
    store.add(Entry(id=new_id(when + timedelta(seconds=1)), article="hello-world",
                    body="Danke!", date=when, author="Blog", reply_to=parent.id, staff=True),
              "approved")
    for number, (kind, where) in enumerate([("pingback", "pending"), ("trackback", "spam"),
                                            ("webmention", "trash"), ("comment", "pending")]):
        store.add(Entry(id=new_id(when + timedelta(seconds=2 + number)), article="hello-world",
                        body=f"{kind} body", date=when, type=kind, title=f"T {kind}",
                        source=f"https://{kind}.example/post", author=kind,
                        ip="192.0.2.9", reply_to=parent.id if kind == "comment" else ""), where)
    store.audit("cli", "forget", detail_list=[1, 2.5, None], note="ä")
    state.webmentions.put(Job("https://a.example/", "https://b.example/", ip="192.0.2.1",
                              received=1700000000.25))
    state.links.spend("nonce1", parent.id, 1900000000.5)
    state.sessions.start("admin", idle=3600, lifetime=86400)
    state.sent.record("https://blog.example/p/", "https://x.example/", {
        "hash": "abc", "via": "webmention", "ok": True, "endpoint": "https://x.example/wm"})
    sub, _ = state.subscriptions.request(email="R@Example.org", name="R", article="hello-world",
                                         scope="all", title="Hello", lang="de")
    assert sub is not None
    state.subscriptions.confirm(sub.id, now=1700000001.5)
    state.rebuild.succeeded(1700000002.0, 1700000003.0, 12)


@pytest.fixture
def blog(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("REPLIK_DATABASE_URL", raising=False)
    conf = make_project(tmp_path / "blog")
    run_cli(conf, "import", "wordpress", str(fixture(WXR)))
    comments = conf.parent / "comments"
    store = Store(comments)
    moved = next(iter(store.entries("approved")))
    store.move(moved.id, "spam", record=lambda: store.audit("desk", "spam", moved.id))
    _fill(store, State(comments / FILE_NAME))
    return conf


def test_files_to_postgresql_and_back_keep_every_field(blog: Path, pg_url, tmp_path):
    pg.upgrade(pg_url)
    comments = blog.parent / "comments"
    files = Store(comments), State(comments / FILE_NAME)
    before = _everything(*files)
    assert {e["state"] for e in before[0].values()} == {"approved", "pending", "spam", "trash"}
    assert len(before[1]) >= 3 and all(before[2][t] for t in ("subscriptions", "sent_linkbacks"))

    out = run_cli(blog, "db", "migrate", "--from", str(comments), "--to", pg_url).output
    assert f"Copied {len(before[0])} entries" in out
    db = pg.database(pg_url)
    database = PgStore(db), State(db)
    assert _everything(*database) == before
    claims = dict(db.execute("SELECT fingerprint, entry FROM body_claims"))
    assert claims == held_bodies(files[0]) and claims

    # Again: refused without --merge, nothing added with it.
    refused = run_cli(blog, "db", "migrate", "--from", str(comments), "--to", pg_url, ok=False)
    assert refused.exit_code != 0 and "--merge" in refused.output
    run_cli(blog, "db", "migrate", "--from", str(comments), "--to", pg_url, "--merge")
    assert _everything(*database) == before
    assert dict(db.execute("SELECT fingerprint, entry FROM body_claims")) == claims
    # The database's ids go on after the copied rows.
    assert database[1].webmentions.put(Job("https://c.example/", "https://d.example/")) > max(
        row["id"] for row in before[2]["webmention_queue"])
    db.execute("DELETE FROM webmention_queue WHERE source = 'https://c.example/'")

    back = tmp_path / "back"
    run_cli(blog, "db", "migrate", "--from", pg_url, "--to", str(back))
    assert _everything(Store(back), State(back / FILE_NAME)) == before
    def entry_files(folder: Path) -> dict[str, bytes]:  # byte for byte
        return {k: v for k, v in snapshot(folder).items() if not k.startswith(FILE_NAME)}

    assert entry_files(back) == entry_files(comments) and len(entry_files(back)) == len(before[0])
    run_cli(blog, "db", "migrate", "--from", pg_url, "--to", str(back), "--merge")
    assert _everything(Store(back), State(back / FILE_NAME)) == before


def test_migrate_into_a_database_without_schema_says_what_to_do(blog: Path, pg_url):
    result = run_cli(blog, "db", "migrate", "--from", str(blog.parent / "comments"),
                     "--to", pg_url, ok=False)
    assert result.exit_code != 0 and "replik db upgrade" in result.output


def test_migrate_from_or_to_a_database_that_cannot_be_reached_says_so(blog: Path):
    """A wrong password, host or port: one line that names the database, no traceback."""
    from liveserver import free_port

    url = f"postgresql://replik:geheim@127.0.0.1:{free_port()}/replik"  # nothing listens
    for source, target in ((str(blog.parent / "comments"), url), (url, str(blog.parent / "b"))):
        result = run_cli(blog, "db", "migrate", "--from", source, "--to", target, ok=False)
        assert result.exit_code == 1, result.output
        assert "cannot be used now" in result.output and "geheim" not in result.output
