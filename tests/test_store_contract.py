"""The store contract (storespec.py), checked for every implementation (tests/stores.py).

Written only against ``CommentStore``: nothing here knows how a store keeps its data.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from stores import STORES, Opener

from replik.storespec import (
    PRIVATE_FIELDS,
    STATES,
    CommentStore,
    Entry,
    EntryNotFound,
    StateChanged,
    StoreError,
    last_decision,
    new_id,
)

START = datetime(2010, 3, 5, 10, 47, tzinfo=UTC)
_made = iter(range(10**6))


def make(article: str = "post", body: str = "Hallo", **fields) -> Entry:
    """A new entry; each one's id sorts after the one made before."""
    when = START + timedelta(seconds=next(_made))
    fields.setdefault("author", "Anna")
    fields.setdefault("date", when)
    return Entry(id=new_id(when), article=article, body=body, **fields)


def full_entry() -> Entry:
    """Every field set, private ones and awkward values included."""
    return make(
        body="Zeile 1\r\n\r\nZeile 2 mit Umlauten äöü, <script> und \\ Backslash\n",
        author="Name mit\nZeilenumbruch", url="https://example.org/anna",
        reply_to=new_id(), staff=True, title="Ein Titel", source="https://example.org/post",
        type="webmention", spam_verdict="ham", spam_reason="akismet",
        email="anna@example.org", ip="203.0.113.5", user_agent="UA/1.0 (X11)",
        referrer="https://example.org/x", extra={"Webmention-Kind": "reply", "Edited": "ja"},
        date=datetime(2011, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=1))),
    )


@pytest.fixture(params=sorted(STORES))
def store_factory(request: pytest.FixtureRequest) -> Opener:
    """Opens a fresh store of each implementation in turn (tests/stores.py)."""
    opener = STORES[request.param](request)
    opener().ensure()
    return opener


@pytest.fixture
def store(store_factory) -> CommentStore:
    return store_factory()


def _failing_record():
    raise OSError(28, "No space left on device")


def test_the_store_has_every_method_of_the_contract(store):
    """Each method of CommentStore, taking at least the contract's parameters."""
    methods = {n: m for n, m in vars(CommentStore).items()
               if callable(m) and not n.startswith("_")}
    assert len(methods) > 15
    for name, method in methods.items():
        wanted = inspect.signature(method).parameters
        given = inspect.signature(getattr(store, name)).parameters
        for param in list(wanted.values())[1:]:  # after self
            if param.kind is param.VAR_KEYWORD:
                assert any(p.kind is p.VAR_KEYWORD for p in given.values()), name
                continue
            assert param.name in given, f"{name}() lacks {param.name}"
            assert given[param.name].kind == param.kind, f"{name}({param.name})"
            assert given[param.name].default == param.default, f"{name}({param.name}=)"


# -- adding and reading --------------------------------------------------------------


def test_every_field_survives_a_round_trip_in_every_state(store):
    for state in STATES:
        entry = full_entry()
        assert store.add(replace(entry), state).state == state
        again = store.get(entry.id)
        assert again == entry and again.state == state
        assert again.date == entry.date and again.date.utcoffset() == timedelta(hours=1)
        assert [getattr(again, name) for name in PRIVATE_FIELDS] == [
            "anna@example.org", "203.0.113.5", "UA/1.0 (X11)", "https://example.org/x"]
        assert store.find(entry.id) == entry


def test_an_unknown_or_invalid_id_is_not_found(store):
    assert store.find(new_id()) is None
    assert store.find("../../etc/passwd") is None
    with pytest.raises(EntryNotFound):
        store.get(new_id())
    assert store.settled(new_id()) is None


def test_an_id_is_stored_once_whatever_the_state(store):
    first = store.add(make(body="Zuerst"), "pending")
    for state in STATES:
        with pytest.raises(StoreError, match="exists already"):
            store.add(replace(first, body="Später"), state)
    with pytest.raises(StoreError, match="exists already"):
        store.add(replace(first, body="Später"), "pending", fresh=True)
    assert (store.get(first.id).body, store.ids()) == ("Zuerst", {first.id})


def test_invalid_ids_states_and_articles_are_refused(store):
    with pytest.raises(StoreError, match="invalid entry id"):
        store.add(replace(make(), id="kein-id"))
    with pytest.raises(StoreError, match="unknown state"):
        store.add(make(), "published")
    for article in ("", "../etc", "a/b"):
        with pytest.raises(StoreError, match="article"):
            store.add(make(article=article), "approved")
    assert store.ids() == set()


def test_add_many_stores_each_as_add_would_and_names_taken_ids(store):
    taken = store.add(make(body="Schon da"), "approved")
    items = [(make(article="eins"), "approved"), (make(article="zwei"), "approved"),
             (make(email="a@example.org"), "spam"), (make(), "pending"),
             (replace(taken, body="Nochmal"), "approved")]
    assert store.add_many(items) == [items[-1][0]]
    for entry, state in items[:-1]:
        assert entry.state == state
        assert store.get(entry.id) == entry and store.get(entry.id).state == state
    assert store.get(taken.id).body == "Schon da"
    assert store.ids() == {taken.id} | {entry.id for entry, _state in items}
    assert store.add_many([]) == []
    with pytest.raises(StoreError):
        store.add_many([(replace(make(), id="x"), "pending")])


def test_entries_by_state_and_article_oldest_first(store):
    made = {state: [] for state in STATES}
    for article in ("b", "a", "b"):
        for state in STATES:
            made[state].append(store.add(make(article=article), state))
    for state in STATES:
        assert [e.id for e in store.entries(state)] == sorted(e.id for e in made[state])
        assert all(e.state == state for e in store.entries(state))
        assert [e.id for e in store.entries(state, "a")] == [
            e.id for e in made[state] if e.article == "a"]
    assert [e.id for e in store.all_entries()] == [
        e.id for state in STATES for e in sorted(made[state], key=lambda e: e.id)]
    assert list(store.entries("approved", "nirgends")) == []
    with pytest.raises(StoreError, match="unknown state"):
        list(store.entries("published"))


def test_approved_by_article_for_the_build(store):
    b2 = store.add(make(article="b", body="B zwei", email="b@example.org"), "approved")
    a1 = store.add(make(article="a", body="A eins"), "approved")
    b1 = store.add(replace(make(article="b", body="B eins"), date=START - timedelta(days=1),
                           id=new_id(START - timedelta(days=1))), "approved")
    store.add(make(article="c"), "pending")
    grouped = store.approved_by_article()
    assert list(grouped) == ["a", "b"]
    assert [e.id for e in grouped["b"]] == [b1.id, b2.id]
    assert grouped["b"][1] == b2 and grouped["b"][1].state == "approved"
    lean = store.approved_by_article(public_only=True, bodies=False)
    assert [e.id for e in lean["b"]] == [b1.id, b2.id]
    assert all(e.body == "" and e.email == "" for entries in lean.values() for e in entries)
    assert lean["a"][0] == replace(a1.public(), body="")
    assert store.body(lean["b"][1]) == "B zwei"
    assert store.bodies("b") == {b1.id: "B eins", b2.id: "B zwei"}
    assert store.bodies("c") == {} and store.bodies("nowhere") == {}
    store.move(b2.id, "trash")
    with pytest.raises(EntryNotFound):
        store.body(lean["b"][1])
    assert store.bodies("b") == {b1.id: "B eins"}


# -- changing --------------------------------------------------------------------------


def test_move_with_and_without_expected(store):
    entry = store.add(make())
    assert store.move(entry.id, "spam", expected="pending").state == "spam"
    with pytest.raises(StateChanged) as caught:
        store.move(entry.id, "approved", expected="pending")  # decided from what it saw
    assert (caught.value.entry_id, caught.value.expected, caught.value.actual) == (
        entry.id, "pending", "spam")
    assert store.get(entry.id).state == "spam"
    for state in ("approved", "trash", "pending", "approved"):  # without: from where it is
        assert store.move(entry.id, state).state == state
        assert store.get(entry.id).state == state
    assert store.get(entry.id) == entry
    with pytest.raises(StoreError, match="unknown state"):
        store.move(entry.id, "published")
    assert store.get(entry.id).state == "approved"


def test_moving_an_entry_that_is_gone(store):
    with pytest.raises(EntryNotFound):
        store.move(new_id(), "approved")
    with pytest.raises(StateChanged) as caught:
        store.move(new_id(), "approved", expected="pending")
    assert caught.value.actual == ""


def test_a_move_to_the_state_it_is_in_changes_nothing(store):
    entry = store.add(make())
    ran = []
    assert store.move(entry.id, "pending", record=lambda: ran.append(1)).state == "pending"
    assert ran == []


def test_update_replaces_the_fields_and_keeps_the_state(store):
    entry = store.add(full_entry(), "approved")
    changed = replace(entry, body="Neuer Text", author="Berta", extra={"Edited": "heute"})
    assert store.update(changed).state == "approved"
    again = store.get(entry.id)
    assert again == changed and again.state == "approved" and again.ip == "203.0.113.5"
    with pytest.raises(EntryNotFound):
        store.update(make())


def test_delete_removes_for_good(store):
    entry = store.add(make(), "spam")
    with pytest.raises(StateChanged) as caught:
        store.delete(entry.id, expected="pending")
    assert caught.value.actual == "spam"
    assert store.delete(entry.id, expected="spam") == entry
    assert store.find(entry.id) is None and store.ids() == set()
    with pytest.raises(EntryNotFound):
        store.delete(entry.id)
    with pytest.raises(StateChanged):
        store.delete(entry.id, expected="spam")


def test_each_change_is_undone_when_its_record_fails(store):
    entry = store.add(make(), "pending")
    with pytest.raises(OSError):
        store.move(entry.id, "approved", expected="pending", record=_failing_record)
    with pytest.raises(OSError):
        store.update(replace(entry, body="Neu"), record=_failing_record)
    with pytest.raises(OSError):
        store.delete(entry.id, record=_failing_record)
    with pytest.raises(OSError):
        store.add(make(), "approved", record=_failing_record)
    again = store.get(entry.id)
    assert (again, again.state, store.ids()) == (entry, "pending", {entry.id})


def test_a_record_runs_once_the_change_is_made(store):
    entry = store.add(make())
    seen = []
    store.move(entry.id, "approved", record=lambda: seen.append(store.get(entry.id).state))
    store.update(replace(entry, body="Neu"),
                 record=lambda: seen.append(store.get(entry.id).body))
    store.delete(entry.id, record=lambda: seen.append(store.find(entry.id)))
    assert seen == ["approved", "Neu", None]


def test_two_threads_deciding_from_the_same_state_exactly_one_wins(store_factory):
    """Many rounds: two threads (each with its own handle) move one entry from pending
    to different states at once; each round exactly one wins."""
    ids = [store_factory().add(make()).id for _ in range(30)]
    start = threading.Barrier(2)
    won: dict[str, list[str]] = {"approved": [], "spam": []}
    failures: list[BaseException] = []

    def decide(target: str) -> None:
        store = store_factory()
        try:
            start.wait(timeout=30)
            for entry_id in ids:
                try:
                    store.move(entry_id, target, expected="pending")
                    won[target].append(entry_id)
                except StateChanged as exc:
                    assert exc.actual in ("approved", "spam")
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=decide, args=(t,)) for t in won]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert set(won["approved"]).isdisjoint(won["spam"])
    assert set(won["approved"]) | set(won["spam"]) == set(ids)
    store = store_factory()
    for entry_id in ids:
        assert store.get(entry_id).state == ("approved" if entry_id in won["approved"]
                                             else "spam")
        assert store.settled(entry_id).state == store.get(entry_id).state


# -- change detection ------------------------------------------------------------------


def test_approved_stamps_change_with_every_change_of_an_article(store):
    assert store.approved_stamps() == {}
    entry = store.add(make(article="a"), "approved")
    other = store.add(make(article="b"), "approved")
    store.add(make(article="a"), "pending")
    steps = [
        lambda: store.add(make(article="a"), "approved"),
        lambda: store.update(replace(store.get(entry.id), body="Geändert")),
        lambda: store.move(entry.id, "trash"),
        lambda: store.move(entry.id, "approved"),
        lambda: store.delete(entry.id),
    ]
    before = store.approved_stamps()
    assert set(before) == {"a", "b"}
    assert store.approved_stamps() == before  # nothing changed: equal
    for step in steps:
        step()
        now = store.approved_stamps()
        assert now["a"] != before["a"] and now["b"] == before["b"]
        before = now
    pending = store.add(make(article="a"), "pending")
    store.update(replace(pending, body="Anders"))
    assert store.approved_stamps() == before  # not approved: not the build's concern
    store.delete(other.id)
    assert "b" not in store.approved_stamps()


def test_entry_stamps_change_with_every_change_of_an_entry(store):
    assert store.entry_stamps() == {}
    first = store.add(make())
    second = store.add(make(article="b"), "approved")
    before = store.entry_stamps()
    assert set(before) == {first.id, second.id} == store.ids()
    assert (before[first.id][0], before[second.id][0]) == ("pending", "approved")
    assert store.entry_stamps() == before
    store.update(replace(first, body="Neu"))
    now = store.entry_stamps()
    assert now[first.id][1] != before[first.id][1] and now[second.id] == before[second.id]
    store.move(first.id, "spam")
    assert store.entry_stamps()[first.id][0] == "spam"
    store.delete(second.id)
    assert set(store.entry_stamps()) == {first.id}


# -- the audit log ---------------------------------------------------------------------


def test_audit_records_are_kept_in_order_and_found_by_entry(store):
    assert list(store.audit_trail()) == []
    entry = store.add(make())
    first = store.audit("anna", "approve", entry.id, "pending", "approved", note="gut")
    assert first["actor"] == "anna" and first["detail"] == {"note": "gut"}
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    store.audit("cli", "import-json", source="export.json", new=3)
    store.audit("berta", "trash", entry.id, "approved", "trash")
    store.audit("berta", "edit", entry.id, "trash", "trash")
    assert [r["action"] for r in store.audit_trail()] == ["approve", "import-json", "trash",
                                                           "edit"]
    assert [r["action"] for r in store.audit_trail(entry.id)] == ["approve", "trash", "edit"]
    assert next(store.audit_trail(entry.id)) == first
    assert last_decision(store, entry.id)["actor"] == "berta"
    assert last_decision(store, new_id()) is None


def test_a_decision_and_its_record_are_kept_together(store_factory):
    store = store_factory()
    entry = store.add(make())
    store.move(entry.id, "approved", expected="pending",
               record=lambda: store.audit("anna", "approve", entry.id, "pending", "approved"))
    other = store_factory()  # another process sees both
    assert other.get(entry.id).state == "approved"
    assert [r["to"] for r in other.audit_trail(entry.id)] == ["approved"]


def test_sweep_on_a_tidy_store_repairs_nothing(store):
    store.add(make())
    assert list(store.sweep()) == []
    assert len(store.ids()) == 1
    assert isinstance(store.location, str) and store.location


@pytest.mark.parametrize("many", [20, 0], ids=["entry-by-entry", "one-pass"])
def test_the_entry_cache_follows_every_change(store, monkeypatch, many):
    """report.EntryCache, built on entry_stamps: what it gives is what the store holds,
    however the changed entries are read again."""
    from replik.report import EntryCache

    monkeypatch.setattr(EntryCache, "MANY", many)
    cache = EntryCache(store)

    def held() -> dict[str, tuple[str, str]]:
        return {e.id: (e.state, e.body) for e in store.all_entries()}

    first = store.add(make(body="Eins"))
    second = store.add(make(body="Zwei"), "approved")
    changes = [
        lambda: store.update(replace(first, body="Eins, geändert")),
        lambda: store.move(first.id, "approved"),
        lambda: store.delete(second.id),
        lambda: store.add(make(body="Drei"), "spam"),
    ]
    assert {e.id: (e.state, e.body) for e in cache.entries()} == held()
    for change in changes:
        change()
        assert {e.id: (e.state, e.body) for e in cache.entries()} == held()
