"""Spam defence with Akismet's own test clients (no network) and the local rules."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from liveserver import live_server
from test_intake_support import (
    DiscardClient,
    FailingClient,
    HamClient,
    InvalidKeyClient,
    RecordingHamClient,
    SpamClient,
    client,
    form,
    make_settings,
    write_conf,
)

from replik import spam
from replik.cli import main
from replik.moderation import Moderation
from replik.server.app import create_app
from replik.store import Store

JSON = {"Accept": "application/json"}


@pytest.fixture(autouse=True)
def no_akismet_env(monkeypatch):
    monkeypatch.delenv("PYTHON_AKISMET_API_KEY", raising=False)
    monkeypatch.delenv("PYTHON_AKISMET_BLOG_URL", raising=False)
    monkeypatch.delenv("REPLIK_SMTP_HOST", raising=False)


def post_one(site, akismet_client, **values):
    settings = make_settings(site, REPLIK_AKISMET_CLIENT=akismet_client)
    with live_server(create_app(settings=settings)) as (base, _):
        with client(base) as http:
            answer = http.post("/replik/comment", data=form(**values), headers=JSON)
    assert answer.status_code == 201, answer.text
    # The reader hears the same whatever the verdict: a spammer learns nothing.
    assert answer.json()["state"] == "pending"
    return Store(site / "comments").get(answer.json()["id"])


@pytest.mark.parametrize(
    ("akismet_client", "state", "verdict", "reason"),
    [
        (HamClient, "pending", "ham", "Akismet: ham"),
        (SpamClient, "spam", "spam", "Akismet: spam"),
        (DiscardClient, "spam", "discard", "discard"),
        (FailingClient, "pending", "unchecked", "Akismet unavailable"),
        (InvalidKeyClient, "pending", "unchecked", "rejected the API key"),
    ],
)
def test_akismet_verdicts(tmp_path, akismet_client, state, verdict, reason):
    entry = post_one(tmp_path, akismet_client)
    assert entry.state == state
    assert entry.spam_verdict == verdict
    assert reason in entry.spam_reason


def test_akismet_client_by_dotted_name(tmp_path):
    entry = post_one(tmp_path, "test_intake_support.SpamClient")
    assert entry.state == "spam"


def test_comment_check_gets_every_field(tmp_path):
    RecordingHamClient.calls = []
    parent_settings = make_settings(tmp_path)
    from test_intake_support import approved

    parent = approved(tmp_path / "comments", "offene-debatte")
    entry = post_one(tmp_path, RecordingHamClient, reply_to=parent.id, url="https://erika.example",
                     body="Hallo zusammen")
    [(user_ip, args)] = RecordingHamClient.calls
    assert user_ip == "127.0.0.1"
    assert args["comment_type"] == "reply"
    assert args["comment_author"] == "Erika Muster"
    assert args["comment_author_email"] == "erika@example.org"
    assert args["comment_author_url"] == "https://erika.example"
    assert args["comment_content"] == "Hallo zusammen"
    assert args["permalink"] == parent_settings["SITEURL"] + "/2026/offene-debatte/"
    assert args["blog_lang"] == "de" and args["blog_charset"] == "UTF-8"
    assert args["comment_date_gmt"] == entry.date.isoformat()
    assert args["comment_post_modified_gmt"] == "2026-03-05T10:47:00+00:00"  # 11:47 in Berlin
    assert args["user_agent"].startswith("python-httpx")
    assert entry.spam_verdict == "ham"


def test_local_rules_decide_before_akismet(tmp_path):
    RecordingHamClient.calls = []
    entry = post_one(tmp_path, RecordingHamClient, homepage="filled by a bot")
    assert entry.state == "spam" and entry.spam_reason == "honeypot field filled in"
    assert RecordingHamClient.calls == []


def test_without_configuration_akismet_is_off_and_says_why(tmp_path):
    settings = make_settings(tmp_path)
    client_, status = spam.akismet_client(settings)
    assert client_ is None and "PYTHON_AKISMET_API_KEY" in status
    assert "local rules alone" in spam.describe(settings)[0]
    settings["REPLIK_AKISMET_CLIENT"] = "no.such.Module"
    assert spam.akismet_client(settings)[0] is None


def test_bad_blog_url_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_AKISMET_API_KEY", "abc")
    monkeypatch.setenv("PYTHON_AKISMET_BLOG_URL", "blog.example")
    client_, status = spam.akismet_client(make_settings(tmp_path))
    assert client_ is None and "http://" in status


def test_recheck_command_checks_unchecked_entries_again(tmp_path):
    unchecked = post_one(tmp_path, FailingClient, body="Erst nicht geprüft")
    conf = write_conf(tmp_path, REPLIK_AKISMET_CLIENT="test_intake_support.SpamClient")
    result = CliRunner().invoke(main, ["--settings", str(conf), "recheck"])
    assert result.exit_code == 0, result.output
    assert unchecked.id in result.output and "1 moved to spam" in result.output
    entry = Store(tmp_path / "comments").get(unchecked.id)
    assert entry.state == "spam" and entry.spam_verdict == "spam"
    assert "(recheck)" in entry.spam_reason
    again = CliRunner().invoke(main, ["--settings", str(conf), "recheck"])
    assert "Nothing to recheck." in again.output


def test_recheck_without_akismet_fails_clearly(tmp_path):
    conf = write_conf(tmp_path)
    result = CliRunner().invoke(main, ["--settings", str(conf), "recheck"])
    assert result.exit_code != 0 and "PYTHON_AKISMET_API_KEY" in result.output


def test_moderation_sends_feedback(tmp_path):
    entry = post_one(tmp_path, HamClient)
    settings = make_settings(tmp_path, REPLIK_AKISMET_CLIENT=HamClient)
    outcome = Moderation(settings, actor="test").decide("spam", entry.id)
    assert outcome.note == "Akismet told: spam"
    outcome = Moderation(settings, actor="test").decide("ham", entry.id)
    assert outcome.note == "Akismet told: not spam"
    log = [json.loads(line) for line in (tmp_path / "comments" / "audit.log").read_text()
           .splitlines()]
    assert [item["detail"]["note"] for item in log] == ["Akismet told: spam",
                                                       "Akismet told: not spam"]
    off = make_settings(tmp_path)
    assert "no Akismet feedback" in spam.send_feedback(off, entry, True)


def test_flood_guard_is_shared_between_guards(tmp_path):
    settings = make_settings(tmp_path)
    one, two = spam.Guard(settings), spam.Guard(settings)  # as two server processes
    start = 60 * 1000.0
    assert one.flood(["ip:1"], 2, now=start) == 0
    assert two.flood(["ip:1"], 2, now=start + 1) == 0
    assert one.flood(["ip:1"], 2, now=start + 2) == 59
    assert two.flood(["ip:2", "email:x"], 2, now=start + 3) == 0  # other keys are free
    assert two.flood(["ip:1"], 2, now=start + 150) == 0  # two minutes later
    assert not (tmp_path / "cache" / "intake" / "flood" / "1000").exists()  # old ones go
    assert not any("ip" in p.name for p in (tmp_path / "cache").rglob("*"))
    assert one.claim_body("a", "Text", "id1") == ""
    assert two.claim_body("a", " text ", "id2") == "id1"
    assert two.claim_body("b", "Text", "id3") == ""


def test_duplicate_index_is_seeded_from_the_store(tmp_path):
    from test_intake_support import approved

    old = approved(tmp_path / "comments", "offene-debatte", body="Alt")
    settings = make_settings(tmp_path)
    assert spam.Guard(settings).claim_body("offene-debatte", "alt", "new") == old.id
