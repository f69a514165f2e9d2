"""The moderation commands of `replik`, through click's runner on a real store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sitebuilder import add_entry, small_site, utc, write_conf

from replik.cli import main
from replik.store import Store


@pytest.fixture
def project(tmp_path, monkeypatch):
    small_site(tmp_path, [("beitrag", "Ein Beitrag", "2010-03-01 09:00")])
    monkeypatch.chdir(tmp_path)
    entries = {
        "old": add_entry(tmp_path, "beitrag", "Alt und freigegeben", utc(2010, 3, 2, 9, 0),
                         author="Anna", email="anna@example.org"),
        "pending": add_entry(tmp_path, "beitrag", "Bitte freischalten", utc(2010, 3, 3, 9, 0),
                             state="pending", author="Bernd", email="bernd@example.org",
                             ip="198.51.100.4"),
        "ping": add_entry(tmp_path, "beitrag", "Auszug", utc(2010, 3, 4, 9, 0), state="pending",
                          type="pingback", title="Fremder Beitrag",
                          source="https://other.example/p"),
    }
    return tmp_path, entries


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_list_shows_the_queue_newest_first(project):
    _, e = project
    result = run("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[1].startswith(e["ping"].id) and lines[2].startswith(e["pending"].id)
    assert "Fremder Beitrag" in result.output
    assert e["old"].id not in result.output


def test_list_filters_and_json(project):
    _, e = project
    data = json.loads(run("list", "--state", "all", "--json").output)
    assert [d["id"] for d in data] == [e["ping"].id, e["pending"].id, e["old"].id]
    assert data[1]["email"] == "bernd@example.org"
    only = json.loads(run("list", "--type", "pingback", "--json").output)
    assert [d["id"] for d in only] == [e["ping"].id]
    assert json.loads(run("list", "--article", "nichts", "--json").output) == []
    assert run("list", "--state", "spam").output.strip() == "No spam entries."


def test_list_and_show_give_every_time_in_the_sites_zone(project):
    """Entries from the server are stored in UTC, imported ones with their own offset:
    the listing shows them all in the site's TIMEZONE, and says so."""
    root, e = project
    imported = add_entry(root, "beitrag", "Importiert", datetime(
        2010, 3, 5, 12, 0, tzinfo=timezone(timedelta(hours=5))), state="pending",
        author="Carla")
    lines = run("list").output.splitlines()
    assert "DATE (Europe/Berlin)" in lines[0]
    times = {line.split()[0]: line for line in lines[1:]}
    # 09:00 UTC and 12:00+05:00 (07:00 UTC) in Berlin's winter time (UTC+1).
    assert "2010-03-03 10:00" in times[e["pending"].id]
    assert "2010-03-05 08:00" in times[imported.id]
    shown = run("show", imported.id).output
    assert "2010-03-05 08:00:00+01:00 (Europe/Berlin)" in shown
    run("approve", imported.id, "--as", "anna")
    history = run("show", imported.id).output.split("History (Europe/Berlin):")[1]
    assert "+01:00" in history and "+00:00" not in history


def test_show_prints_fields_body_and_history(project):
    _, e = project
    result = run("show", e["pending"].id)
    assert "Bitte freischalten" in result.output and "bernd@example.org" in result.output
    run("approve", e["pending"].id, "--as", "anna")
    data = json.loads(run("show", e["pending"].id, "--json").output)
    assert data["state"] == "approved"
    assert [(a["actor"], a["action"], a["from"], a["to"]) for a in data["audit"]] == [
        ("anna", "approve", "pending", "approved")]


def test_unknown_ids_are_clear_errors(project):
    result = CliRunner().invoke(main, ["show", "20990101T000000000000Z-00000000"])
    assert result.exit_code == 1
    assert "no entry with id '20990101T000000000000Z-00000000'" in result.output
    result = CliRunner().invoke(main, ["approve", "nope"])
    assert result.exit_code == 1 and "no entry with id 'nope'" in result.output
    result = CliRunner().invoke(main, ["delete", "nope", "--yes"])
    assert result.exit_code == 1 and "nothing deleted" in result.output


def test_approve_trash_restore_cycle(project):
    root, e = project
    store = Store(root / "comments")
    result = run("approve", e["pending"].id, e["ping"].id)
    assert result.exit_code == 0
    assert f"{e['pending'].id}: pending → approved" in result.output
    assert "make html" in result.output
    assert store.get(e["ping"].id).state == "approved"
    run("trash", e["ping"].id)
    assert store.get(e["ping"].id).state == "trash"
    run("restore", e["ping"].id)
    assert store.get(e["ping"].id).state == "approved"  # back where it came from
    result = CliRunner().invoke(main, ["restore", e["ping"].id])
    assert result.exit_code == 1 and "not in the trash" in result.output


def test_delete_asks_unless_yes(project):
    root, e = project
    store = Store(root / "comments")
    result = CliRunner().invoke(main, ["delete", e["old"].id], input="n\n")
    assert result.exit_code == 1 and store.find(e["old"].id) is not None
    result = CliRunner().invoke(main, ["delete", e["old"].id], input="y\n")
    assert result.exit_code == 0 and store.find(e["old"].id) is None
    run("delete", e["ping"].id, "--yes")
    assert store.find(e["ping"].id) is None
    actions = [a["action"] for a in Store(root / "comments").audit_trail()]
    assert actions == ["delete", "delete"]


def test_reply_as_staff_approves_the_parent(project):
    root, e = project
    store = Store(root / "comments")
    result = run("reply", e["pending"].id, "--text", "Danke für den Hinweis!", "--as", "anna",
                 "--name", "Anna (Redaktion)", "--json")
    outcome = json.loads(result.output)[0]
    reply = store.get(outcome["id"])
    assert reply.state == "approved" and reply.staff and reply.reply_to == e["pending"].id
    assert reply.author == "Anna (Redaktion)" and reply.body == "Danke für den Hinweis!"
    assert store.get(e["pending"].id).state == "approved"
    result = CliRunner().invoke(main, ["reply", e["pending"].id, "--text", "   "])
    assert result.exit_code == 1 and "empty" in result.output


def test_edit_changes_the_text_and_keeps_the_state(project, monkeypatch):
    root, e = project
    store = Store(root / "comments")
    run("edit", e["old"].id, "--text", "Korrigiert")
    assert store.get(e["old"].id).body == "Korrigiert"
    assert store.get(e["old"].id).state == "approved"
    monkeypatch.setattr("click.edit", lambda text, **kw: text.replace("Korrigiert", "Per Editor"))
    run("edit", e["old"].id)
    assert store.get(e["old"].id).body == "Per Editor"
    assert "No change." in run("edit", e["old"].id, "--text", "Per Editor").output


def test_build_option_rebuilds_the_site(project):
    root, e = project
    result = run("approve", e["pending"].id, "--build")
    assert result.exit_code == 0, result.output
    page = (root / "output" / "beitrag" / "index.html").read_text()
    assert "Bitte freischalten" in page


def test_missing_settings_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 1
    assert "pelicanconf.py not found" in result.output


def test_unusable_settings_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pelicanconf.py").write_text("SITENAME = (\n")
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 1 and "line 1" in result.output and "Traceback" not in result.output
    (tmp_path / "pelicanconf.py").write_text("PATH = 'gibt-es-nicht'\n")
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 1 and "content" in result.output


def test_a_decision_that_lost_a_race_changes_nothing_and_names_the_winner(project, monkeypatch):
    """The CLI decides from the state it reads; if another moderator moves the entry
    between that reading and the move, the move is refused (compare-and-set) and the
    audit's "from" states never contradict each other."""
    from replik.moderation import Moderation
    from replik.settings import load_settings

    root, e = project
    entry_id = e["pending"].id
    settings = load_settings(root / "pelicanconf.py")
    real_find = Store.find
    raced = []

    def find_then_someone_else_decides(self, wanted):
        found = real_find(self, wanted)
        if wanted == entry_id and not raced:
            raced.append(True)  # bert marks it spam just after we looked
            Moderation(settings, "bert").decide("spam", entry_id)
        return found

    monkeypatch.setattr(Store, "find", find_then_someone_else_decides)
    result = CliRunner().invoke(main, ["approve", entry_id, "--as", "anna"])
    assert result.exit_code == 1
    assert "already decided by bert: it is spam now" in result.output
    assert Store(root / "comments").get(entry_id).state == "spam"
    trail = [(a["actor"], a["from"], a["to"]) for a in Store(root / "comments").audit_trail(entry_id)]
    assert trail == [("bert", "pending", "spam")]


def test_a_reply_is_approved_only_after_what_it_answers(project):
    root, e = project
    store = Store(root / "comments")
    parent = e["pending"]
    reply = add_entry(root, "beitrag", "Eine Antwort", utc(2010, 3, 3, 10, 0), state="pending",
                      author="Clara", reply_to=parent.id)
    result = CliRunner().invoke(main, ["approve", reply.id])
    assert result.exit_code == 1
    assert f"answers entry {parent.id}, which is pending: approve that one first" in result.output
    assert store.get(reply.id).state == "pending"
    result = run("approve", reply.id, parent.id)  # in any order: the older one goes first
    assert result.exit_code == 0
    assert store.get(reply.id).state == "approved" and store.get(parent.id).state == "approved"


def test_staff_replies_are_signed_with_the_moderators_display_name(project):
    root, e = project
    write_conf(root, REPLIK_MODERATOR_NAMES={"anna": "Anna aus der Redaktion"},
               AUTHOR="Das Blog")
    store = Store(root / "comments")
    named = json.loads(run("reply", e["old"].id, "--text", "Danke!", "--as", "anna",
                           "--json").output)[0]
    assert store.get(named["id"]).author == "Anna aus der Redaktion"
    unnamed = json.loads(run("reply", e["old"].id, "--text", "Gern!", "--as", "bert",
                             "--json").output)[0]
    assert store.get(unnamed["id"]).author == "Das Blog"  # never the login name


def test_commands_put_back_an_edit_killed_midway(project):
    from test_store import interrupted_edit

    root, e = project
    proc = interrupted_edit(root / "comments", e["pending"].id)
    proc.kill()  # kill -9 during the edit: only the held copy is left
    proc.wait()
    held = list((root / "comments" / "tmp").iterdir())
    assert [p.name for p in held] == [f"{e['pending'].id}.txt.held.pending"]
    result = run("list")
    assert e["pending"].id in result.output
    assert (root / "comments" / "pending" / f"{e['pending'].id}.txt").exists()
    assert list((root / "comments" / "tmp").iterdir()) == []
