"""The state's contract (state.py's docstrings), held to by both backends: the SQLite
file and PostgreSQL (a throwaway cluster). ``two`` is a second State on the same
data with connections of its own, as another process or app node has."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from stores import STORES
from test_intake_support import make_settings

from replik import pg, spam
from replik import state as state_module
from replik.cli import main
from replik.linkbacks.pairs import PairIndex
from replik.pgstore import PgStore
from replik.state import Job, State, open_state
from replik.storespec import Entry, new_id, open_store
from replik.subscriptions import key_hash

NOW = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    """A function making States over one database: each call, new connections."""
    made: list[pg.PgDatabase] = []
    if request.param == "sqlite":
        yield lambda: State(tmp_path / "state.sqlite3")
        return
    url = request.getfixturevalue("pg_url")
    pg.upgrade(url)

    def make() -> State:
        made.append(pg.PgDatabase(url))
        return State(made[-1])

    yield make
    for db in made:
        db.close()


@pytest.fixture
def one(backend):
    return backend()


@pytest.fixture
def two(backend):
    return backend()


def together(n: int, work):
    """Run ``work(i)`` in n threads released at once; their results in order."""
    start = threading.Barrier(n)

    def run(i):
        start.wait()
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


# -- login attempts ------------------------------------------------------------------
def test_login_limit_counts_across_connections(one, two):
    states = [one, two]
    got = [states[i % 2].logins.reserve("mod", "10.0.0.1", limit=3, window=60, now=NOW + i)
           for i in range(4)]
    assert all(attempt for attempt, _ in got[:3]) and got[3][0] is None
    assert got[3][1] == pytest.approx(60 - 3)  # the oldest of the three leaves the window
    assert one.logins.failed(got[0][0]) == 3  # failed and pending both count
    # A stranger hammering the account does not lock out a clean address.
    assert two.logins.reserve("mod", "10.0.0.2", limit=3, window=60, now=NOW + 5)[0]
    assert one.logins.reserve("mod", "10.0.0.1", limit=3, window=60, now=NOW + 61)[0]
    one.logins.succeeded(got[1][0], "10.0.0.1")
    assert two.logins.forget(["10.0.0.1", "10.0.0.2"]) >= 1
    assert one.logins.reserve("mod", "10.0.0.1", limit=1, window=60, now=NOW + 62)[0]


def test_login_reserve_at_once_admits_no_more_than_the_limit(one, two):
    states = [one, two]
    got = together(8, lambda i: states[i % 2].logins.reserve(
        "mod", "10.0.0.9", limit=3, window=60, now=NOW))
    assert sum(1 for attempt, _ in got if attempt) == 3
    assert len({attempt for attempt, _ in got if attempt}) == 3


# -- sessions ---------------------------------------------------------------------------
def test_sessions_are_seen_by_every_connection(one, two):
    sid = one.sessions.start("mod", idle=600, lifetime=3600)
    assert two.sessions.use(sid, idle=600, lifetime=3600) == ("mod", "")
    assert two.sessions.use(sid + "x", idle=600, lifetime=3600) == (None, "unknown")
    assert one.sessions.use(sid, idle=-1, lifetime=3600) == (None, "idle")
    assert two.sessions.use(sid, idle=600, lifetime=3600) == (None, "unknown")  # deleted
    other = two.sessions.start("chef", idle=600, lifetime=3600)
    assert one.sessions.use(other, idle=600, lifetime=-1) == (None, "lifetime")
    third = one.sessions.start("mod", idle=600, lifetime=3600)
    two.sessions.end(third)
    assert one.sessions.use(third, idle=600, lifetime=3600) == (None, "unknown")


# -- used one-click links ------------------------------------------------------------------
def test_a_link_is_spent_once_under_concurrency(one, two):
    states = [one, two]
    expires = NOW * 2
    won = together(8, lambda i: states[i % 2].links.spend("nonce", "entry-1", expires))
    assert sorted(won) == [False] * 7 + [True]
    assert one.links.spent("nonce", "entry-1") and not two.links.spent("nonce", "entry-2")
    two.links.give_back("nonce", "entry-1")
    assert not one.links.spent("nonce", "entry-1")
    assert one.links.spend("nonce", "entry-1", expires)
    assert two.links.spend("old", "entry-1", 10)
    assert one.links.spend("next", "entry-1", expires)  # forgets the expired ones
    assert two.links.spent("nonce", "entry-1") and not two.links.spent("old", "entry-1")


# -- the webmention queue --------------------------------------------------------------------
def test_two_claimers_never_get_the_same_job(one, two):
    ids = [one.webmentions.put(Job(f"https://a.example/{i}", "https://blog/post",
                                   ip="10.1.1.1", received=NOW + i)) for i in range(20)]
    assert len(set(ids)) == 20 and len(two.webmentions) == 20
    states = [one, two]

    def drain(i):
        got = []
        while jobs := states[i].webmentions.claim(2, lease=60, now=NOW + 100):
            got += [job.id for job in jobs]
        return got

    first, second = together(2, drain)
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(ids)
    assert two.webmentions.claim(5, lease=60, now=NOW + 120) == []  # all leased
    again = one.webmentions.claim(1, lease=60, now=NOW + 161)  # a lease ran out
    assert [job.id for job in again] == [ids[0]]
    assert again[0].source == "https://a.example/0" and again[0].ip == "10.1.1.1"
    two.webmentions.retry(ids[0], delay=1e12)  # far in the future
    one.webmentions.done(ids[1])
    waiting = {job.id: job for job in two.webmentions.jobs()}
    assert ids[1] not in waiting and waiting[ids[0]].attempts == 1
    assert [j.id for j in one.webmentions.claim(1, lease=60, now=NOW + 300)] == [ids[2]]
    assert one.webmentions.forget(["10.1.1.1"]) == 19
    assert {job.ip for job in two.webmentions.jobs()} == {""}


# -- linkbacks we sent, published posts, rebuild status ---------------------------------------
def test_sent_linkbacks_and_published_posts(one, two):
    one.sent.record("https://blog/a", "https://x/1", {"hash": "h1", "via": "webmention",
                                                      "ok": True, "time": "t"})
    record = two.sent.get("https://blog/a", "https://x/1")
    assert record["hash"] == "h1" and record["ok"] is True and record["deleted"] is False
    two.sent.record("https://blog/a", "https://x/1", {"hash": "h2", "via": "none",
                                                      "ok": False, "removed": True})
    assert one.sent.get("https://blog/a", "https://x/1")["removed"] is True
    with one.transaction() as db:
        one.sent.insert(db, "https://blog/a", "https://x/1", {"hash": "h3"}, replace=False)
        one.sent.insert(db, "https://blog/b", "https://x/2", {"hash": "h4"}, replace=False)
    assert two.sent.get("https://blog/a", "https://x/1")["hash"] == "h2"
    assert two.sent.sources() == ["https://blog/a", "https://blog/b"]
    assert one.sent.targets("https://blog/a") == ["https://x/1"]
    assert one.sent.get("https://blog/c", "https://x/1") is None
    one.sent.publish(["/a/", "/b/"])
    two.sent.publish(["/b/", "/c/"])
    assert one.sent.published() == {"/a/", "/b/", "/c/"}


def test_rebuild_status(one, two):
    assert one.rebuild.read() == {}
    one.rebuild.failed("boom", NOW)
    assert two.rebuild.read() == {"error": "boom", "failed_at": NOW}
    two.rebuild.succeeded(NOW + 1, NOW + 2, 7)
    assert one.rebuild.read() == {"ok_started": NOW + 1, "ok_finished": NOW + 2,
                                  "written": 7, "error": "", "failed_at": NOW}


def test_mutex_lets_one_holder_in_at_a_time(one, two):
    states, inside, most = [one, two], [0], [0]
    guard = threading.Lock()

    def work(i):
        for _ in range(5):
            with states[i % 2].mutex("rebuild"):
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                states[i % 2].rebuild.read()  # some work while holding it
                with guard:
                    inside[0] -= 1

    together(4, work)
    assert most[0] == 1


# -- reply subscriptions and the outbox ----------------------------------------------------------
def request(state, email="Leser@Example.org", scope="replies", entry="e1", **more):
    return state.subscriptions.request(email=email, name="Leser", article="post", scope=scope,
                                       entry=entry, origin="c1", title="Post",
                                       permalink="https://blog/post/", lang="de", now=NOW,
                                       **more)


def test_subscriptions_request_confirm_and_leave(one, two):
    sub, outcome = request(one)
    assert outcome == "new" and sub.id and sub.email == "Leser@Example.org"
    assert request(two, scope="all") == (None, "waiting")  # one open request per address
    assert two.subscriptions.get(sub.id) == sub
    assert two.subscriptions.confirm(sub.id, now=NOW + 1)
    assert not one.subscriptions.confirm(sub.id, now=NOW + 2)
    assert request(two)[1] == "confirmed"
    assert one.subscriptions.facts()["subscribed"] == {"c1": 1}
    assert [s.id for s in two.subscriptions.concerned("post", "e1")] == [sub.id]
    assert two.subscriptions.concerned("post", "e2") == []
    assert one.subscriptions.count_for("post", "e1") == (1, 0)
    everything, _ = request(one, email="b@example.org", scope="all", entry="")
    one.subscriptions.confirm(everything.id, now=NOW)
    assert two.subscriptions.count_for("post", "e1") == (1, 1)
    assert len(one.subscriptions.listing(article="post", now=NOW)) == 2
    assert two.subscriptions.unsubscribe("post", key_hash("leser@example.org")) == 1
    assert one.subscriptions.forget("B@example.org") == 1
    assert two.subscriptions.listing(now=NOW) == []


def test_rebuild_requests_are_claimed_once(one, two):
    asked = [[one, two][i % 2].rebuilds.put() for i in range(10)]
    assert asked == sorted(asked) and one.rebuilds.ready() == 10
    first, second = together(2, lambda i: [one, two][i].rebuilds.claim(lease=60))
    assert not set(first) & set(second) and len(first) + len(second) == 10
    assert sorted([*first.values(), *second.values()]) == asked
    assert two.rebuilds.ready() == 0 and one.rebuilds.claim() == {}
    one.rebuilds.release(first)  # a failed rebuild gives its requests back
    two.rebuilds.done(second)
    assert one.rebuilds.ready() == len(first)
    again = two.rebuilds.claim(lease=0)  # a lease that runs out at once
    assert again == first and one.rebuilds.claim(lease=60) == first
    one.rebuilds.done(first)
    assert one.execute("SELECT count(*) FROM rebuild_requests").fetchone() == (0,)


def test_outbox_digest_claim_and_delivery(one, two):
    sub, _ = request(one)
    one.subscriptions.confirm(sub.id, now=NOW)
    confirm_id = two.outbox.add_confirmation(sub, "<c@blog>", now=NOW)
    ids = iter(f"<m{i}@blog>" for i in range(10))
    reached = [state.outbox.add_notices([sub], f"reply-{i}", "someone@else", batch_seconds=60,
                                        make_id=lambda: next(ids), now=NOW)
               for i, state in enumerate([one, two, one])]
    assert reached == [1, 1, 1]
    assert one.outbox.add_notices([sub], "own", "leser@example.org", batch_seconds=60,
                                  make_id=lambda: next(ids), now=NOW) == 0  # its author
    queued = two.outbox.listing("queued")
    assert [m.kind for m in queued] == ["confirm", "notify"]
    assert queued[1].entries == ["reply-0", "reply-1", "reply-2"]  # one digest
    assert one.outbox.next_due() == NOW
    first, second = together(2, lambda i: [one, two][i].outbox.claim(
        limit=1, lease=60, now=NOW + 61))
    assert sorted(m.id for m in first + second) == sorted(m.id for m in queued)
    assert two.outbox.claim(limit=5, lease=60, now=NOW + 62) == []
    mail = next(m for m in first + second if m.kind == "notify")
    assert one.outbox.sending(mail.id, lease=60, now=NOW + 62)
    assert not two.outbox.sending(mail.id, lease=60, now=NOW + 62)
    two.outbox.sent(mail, ["reply-0", "reply-2"], now=NOW + 63)
    assert one.subscriptions.facts()["delivered"] == {"reply-0": 1, "reply-2": 1}
    one.outbox.failed(next(m for m in first + second if m.id == confirm_id), "550 no",
                      retry_in=None, now=NOW + 64)
    assert [m.status for m in two.outbox.listing()] == ["failed", "sent"]
    assert two.outbox.retry(confirm_id, now=NOW + 65) and not one.outbox.retry(mail.id)
    assert [m.id for m in one.outbox.of_address("LESER@example.org")] == [confirm_id, mail.id]


def test_a_sender_that_died_while_handing_over_leaves_the_mail_uncertain(one, two):
    sub, _ = request(one)
    one.outbox.add_confirmation(sub, "<c@blog>", now=NOW)
    (mail,) = one.outbox.claim(limit=5, lease=60, now=NOW)
    assert one.outbox.sending(mail.id, lease=60, now=NOW)
    assert two.outbox.claim(limit=5, lease=60, now=NOW + 61) == []  # never again by itself
    (row,) = two.outbox.listing()
    assert row.status == "uncertain" and row.attempts == 1


# -- flood counters and the duplicate index (the backend's, see spam.guard) ------------------------
@pytest.fixture
def guards(backend, request, tmp_path):
    state = backend()
    if isinstance(state.db, pg.PgDatabase):
        return pg.Guard(state.db), pg.Guard(backend().db)
    settings = make_settings(tmp_path)
    return spam.Guard(settings), spam.Guard(settings)


def test_flood_counts_across_guards(guards):
    one, two = guards
    start = 60 * 1000.0
    assert one.flood(["ip:1"], 2, now=start) == 0
    assert two.flood(["ip:1"], 2, now=start + 1) == 0
    assert one.flood(["ip:1"], 2, now=start + 2) == 59
    assert two.flood(["ip:2", "email:x"], 2, now=start + 3) == 0
    assert one.flood(["ip:2", "ip:1"], 2, now=start + 61) == 60  # the last minute still counts
    assert two.flood(["ip:1"], 2, now=start + 150) == 0


@pytest.fixture
def adders(guards, tmp_path):
    """``add(article, text)`` through either guard into one store: '' or the holder."""
    one = guards[0]
    store = PgStore(one.db) if isinstance(one, pg.Guard) else open_store(
        make_settings(tmp_path))

    def add(number: int, article: str, text: str) -> tuple[str, str]:
        entry = Entry(id=new_id(), article=article, body=text, date=datetime.now(UTC))
        return entry.id, guards[number % 2].add(store, entry, "pending")

    return add, store


def test_duplicate_claims_across_guards(adders):
    add, store = adders
    first, holder = add(0, "a", "Text")
    assert holder == ""
    assert add(1, "a", " text ")[1] == first
    assert add(1, "b", "Text")[1] == ""
    assert add(0, "a", "Text")[1] == first
    assert sorted(e.body for e in store.entries("pending")) == ["Text", "Text"]


def test_concurrent_claims_of_one_text_have_one_winner(adders):
    """Twelve comments of one text at once (through two guards): one is stored, the
    rest are told its id."""
    add, store = adders
    got = together(12, lambda i: add(i, "a", "Gleich"))
    [winner] = [entry_id for entry_id, holder in got if holder == ""]
    assert all(holder in ("", winner) for _, holder in got)
    assert [e.id for e in store.entries("pending")] == [winner]


# -- the schema: replik db upgrade ---------------------------------------------------------------
def test_db_upgrade_makes_the_schema_once(pg_url, monkeypatch, tmp_path):
    runner = CliRunner()
    monkeypatch.delenv("REPLIK_DATABASE_URL", raising=False)
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1 and "REPLIK_DATABASE_URL is not set" in result.output
    monkeypatch.setenv("REPLIK_DATABASE_URL", pg_url)
    with pytest.raises(pg.SchemaError, match="replik db upgrade"):
        pg.PgDatabase(pg_url).execute("SELECT 1")
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"Schema version {len(pg.MIGRATIONS)} (was 0)." in result.output
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0 and "nothing to do" in result.output
    # The environment selects PostgreSQL: nothing is written to a state file.
    state = open_state(make_settings(tmp_path))
    try:
        assert isinstance(state.db, pg.PgDatabase)
        state.rebuild.failed("boom", NOW)
        assert state.execute("SELECT error FROM rebuild_status").fetchone() == ("boom",)
        assert not list(tmp_path.rglob("state.sqlite3"))
        store = open_store(make_settings(tmp_path))
        assert isinstance(store, PgStore) and store.location == pg_url.replace("postgres@", "")
    finally:
        state.db.close()
        state_module._open.pop(pg_url)
        pg._databases.pop(pg_url)


def test_upgrade_makes_the_flood_counters_unlogged(pg_url, monkeypatch):
    """Version 3 on a database made at version 2: the counters stay and count on,
    in a table whose writes need no WAL flush."""
    import psycopg

    monkeypatch.setattr(pg, "MIGRATIONS", pg.MIGRATIONS[:2])
    assert pg.upgrade(pg_url) == (0, 2)
    db = pg.PgDatabase(pg_url)
    try:
        assert pg.Guard(db).flood(["ip:1"], 1, now=60 * 1000.0) == 0
        db.close()
        monkeypatch.undo()
        assert pg.upgrade(pg_url) == (2, 3)
        assert pg.Guard(db).flood(["ip:1"], 1, now=60 * 1000.0 + 1) == 60
    finally:
        db.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT relpersistence FROM pg_class WHERE relname = 'flood'"
                            ).fetchone() == ("u",)


def test_a_database_restart_is_survived(pg_cluster, pg_url):
    """While the database is down a call fails at once with ConnectionError (the
    server answers 503); afterwards the same State works again, nothing lost."""
    pg.upgrade(pg_url)
    db = pg.PgDatabase(pg_url, timeout=1.0)
    state = State(db)
    try:
        state.rebuild.failed("before", NOW)
        pg_cluster.stop()
        try:
            with pytest.raises(ConnectionError):
                state.rebuild.read()
            with pytest.raises(ConnectionError):
                state.links.spend("n", "e", NOW * 2)
        finally:
            pg_cluster.start_again()
        assert state.rebuild.read()["error"] == "before"
        assert state.links.spend("n", "e", NOW * 2)
    finally:
        db.close()


@pytest.mark.parametrize("kind", sorted(STORES))
def test_a_known_linkback_pair_is_seen_by_every_handle(kind, request, tmp_path):
    """The pair index (file store: a cache file; database: the store itself) finds a
    stored linkback from another process's handle, in any state."""
    opener = STORES[kind](request)
    opener().ensure()
    settings = make_settings(tmp_path / "one")
    # Files: processes share one disk. A database: app nodes, each with its own cache.
    other = settings if kind == "files" else make_settings(tmp_path / "two")
    one, two = PairIndex(settings, opener()), PairIndex(other, opener())
    assert two.find("https://a.example/x", "post") is None  # (an index is made now)
    entry = opener().add(Entry(id=new_id(), article="post", body="", type="webmention",
                               date=datetime.now(UTC), source="https://a.example/x"))
    one.add(entry)
    assert two.find("https://a.example/x", "post").id == entry.id
    assert two.find("https://a.example/y", "post") is None
    assert two.find("https://a.example/x", "other") is None
    opener().move(entry.id, "trash")
    assert one.find("https://a.example/x", "post").state == "trash"
    opener().delete(entry.id)
    assert two.find("https://a.example/x", "post") is None


def test_the_build_reads_published_posts_from_the_database(pg_url, monkeypatch, tmp_path):
    # gone.map lists deleted posts from the state: with PostgreSQL there is no state
    # file, and the build must still ask the database.
    from replik import gone

    monkeypatch.setenv("REPLIK_DATABASE_URL", pg_url)
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    settings = make_settings(tmp_path)
    state = open_state(settings)
    try:
        state.sent.publish(["posts/weg.html"])
    finally:
        state.db.close()
    assert "posts/weg.html" in gone.published(settings)
    assert not list(tmp_path.rglob("state.sqlite3"))
