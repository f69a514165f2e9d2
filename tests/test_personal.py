"""`replik forget` and `replik export-person`: a person's data out of store, caches, site."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from test_import_wordpress import WXR, fixture, make_project, run_cli

from replik.personal import person_key
from replik.store import Entry, Store, new_id

EMAIL = "Example@Example.org"  # Jane/John Doe & co. in the theme test data (any case)


def imported(tmp_path):
    conf = make_project(tmp_path / "blog")
    run_cli(conf, "import", "wordpress", str(fixture(WXR)))
    return conf, Store(conf.parent / "comments")


def mine(store: Store) -> list:
    return [e for e in store.all_entries() if e.email.lower() == EMAIL.lower()]


def test_export_person_prints_everything_and_is_audited(tmp_path):
    conf, store = imported(tmp_path)
    expected = {e.id for e in mine(store)}
    assert len(expected) == 18
    result = run_cli(conf, "export-person", EMAIL)
    data = json.loads(result.output)
    assert {e["id"] for e in data["entries"]} == expected
    first = data["entries"][0]
    assert {"email", "ip", "user_agent", "referrer", "body", "state", "extra"} <= set(first)
    log = list(store.audit_trail())
    assert log[-1]["action"] == "export-person"
    assert log[-1]["detail"]["person"] == person_key(EMAIL)
    assert EMAIL.lower() not in json.dumps(log).lower()


def test_forget_anonymises_clears_caches_and_rebuilds(tmp_path):
    conf, store = imported(tmp_path)
    ids = {e.id for e in mine(store)}
    others = {e.id: e for e in store.all_entries() if e.id not in ids}
    cache = conf.parent / ".replik-cache"
    (cache / "render").mkdir(parents=True)
    (cache / "render" / "x.html").write_text("John Doe")
    result = run_cli(conf, "forget", EMAIL, "--yes", "--build")
    assert f"Anonymised {len(ids)} entries." in result.output
    # The old cache is gone (the rebuild makes a new one from the anonymised store).
    assert not (cache / "render" / "x.html").exists()
    for entry in store.all_entries():
        if entry.id in ids:
            assert (entry.email, entry.ip, entry.user_agent, entry.referrer, entry.url) == (
                "", "", "", "", "")
            assert entry.author == "Gelöschter Nutzer"
            assert entry.body  # what they wrote stays, without who wrote it
        else:
            assert entry == others[entry.id]
    assert mine(store) == []
    page = (conf.parent / "output" / "2012" / "template-comments" / "index.html").read_text()
    assert "Gelöschter Nutzer" in page
    for name in ("Jane Doe", "John Doe", "Fred Bloggs", "Γιάννης"):
        assert name not in page
    record = list(store.audit_trail())[-1]
    assert record["action"] == "forget" and set(record["detail"]["entries"]) == ids
    assert EMAIL.lower() not in (store.root / "audit.log").read_text().lower()


def test_forget_with_delete_removes_the_entries(tmp_path):
    conf, store = imported(tmp_path)
    ids = {e.id for e in mine(store)}
    total = len(list(store.all_entries()))
    result = run_cli(conf, "forget", EMAIL, "--delete", "--yes")
    assert f"Deleted {len(ids)} entries." in result.output and "make html" in result.output
    assert len(list(store.all_entries())) == total - len(ids)
    assert not ({e.id for e in store.all_entries()} & ids)
    record = list(store.audit_trail())[-1]
    assert record["detail"]["delete"] is True


def test_forget_clears_their_addresses_from_the_state_file(tmp_path):
    """Desk login attempts and queued webmentions from the person's IP addresses go;
    other addresses' rows stay."""
    from replik.settings import load_settings
    from replik.state import Job, address_key, open_state

    conf, store = imported(tmp_path)
    addresses = ["203.0.113.5", "2001:db8::5"]  # the reader commented from these
    for number, address in enumerate(addresses):
        store.add(Entry(id=new_id(), article="template-comments", body=f"Noch {number}",
                        date=datetime(2026, 3, 1, tzinfo=UTC), author="Jane",
                        email=EMAIL, ip=address), "pending")
    state = open_state(load_settings(conf))
    now = 1_800_000_000.0
    for address in (*addresses, "198.51.100.9"):
        # As the desk counts them: an IPv6 address under its /64.
        state.logins.reserve("anna", address_key(address), limit=5, window=600, now=now)
        state.webmentions.put(Job("https://a.example/", "https://b.example/", ip=address,
                                  user_agent="Bot/1"))
    result = run_cli(conf, "forget", EMAIL, "--yes")
    assert f"from {2 * len(addresses)} rows of the state file" in result.output
    assert state.logins.reserve("anna", "198.51.100.9", limit=2, window=600,
                                now=now + 1)[0] is not None  # one attempt there before
    assert state.logins.reserve("anna", "198.51.100.9", limit=2, window=600,
                                now=now + 2)[0] is None  # ... so the limit of 2 is reached
    for address in addresses:  # their attempts are gone: a full allowance again
        assert state.logins.reserve("anna", address_key(address), limit=1, window=600,
                                    now=now + 3)[0] is not None
    jobs = state.webmentions.jobs()
    assert [(j.ip, j.user_agent) for j in jobs] == [("", "")] * len(addresses) + [
        ("198.51.100.9", "Bot/1")]


def test_forget_asks_first_and_knows_unknown_people(tmp_path):
    conf, store = imported(tmp_path)
    result = run_cli(conf, "forget", EMAIL, input="n\n", ok=False)
    assert result.exit_code == 1 and len(mine(store)) == 18
    result = run_cli(conf, "forget", "nobody@example.net", "--yes")
    assert "No entries" in result.output


def test_commands_in_the_help(tmp_path):
    conf = make_project(tmp_path / "blog")
    out = run_cli(conf, "--help").output
    for name in ("import", "export", "forget", "export-person"):
        assert f"  {name} " in out
