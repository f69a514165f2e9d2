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
    assert args["permalink"] == parent_settings.siteurl + "/2026/offene-debatte/"
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
    settings = settings.replace(REPLIK_AKISMET_CLIENT="no.such.Module")
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


def test_duplicate_index_release_is_seen_by_other_processes(tmp_path):
    settings = make_settings(tmp_path)
    one, two = spam.Guard(settings), spam.Guard(settings)
    assert one.claim_body("a", "Text", "id1") == ""
    assert two.claim_body("a", "Text", "id2") == "id1"
    two.release_body("a", "Text", "id2")  # not its claim: nothing changes
    assert one.claim_body("a", "Text", "id3") == "id1"
    one.release_body("a", "Text", "id1")  # the entry could not be stored
    assert two.claim_body("a", "Text", "id4") == ""
    assert one.claim_body("a", "Text", "id5") == "id4"
    # One file for the whole index, no file per text; only hashes in it.
    index = tmp_path / "cache" / "intake" / spam.Guard.INDEX
    assert [p.name for p in index.parent.iterdir()] == [index.name]
    assert "Text" not in index.read_text() and "text" not in index.read_text()


def test_duplicate_index_is_rebuilt_when_the_cache_is_cleared(tmp_path):
    from test_intake_support import approved

    old = approved(tmp_path / "comments", "offene-debatte", body="Alt")
    settings = make_settings(tmp_path)
    guard = spam.Guard(settings)
    assert guard.claim_body("offene-debatte", "Neu", "id1") == ""
    (tmp_path / "cache" / "intake" / spam.Guard.INDEX).unlink()
    assert guard.claim_body("offene-debatte", "alt", "id2") == old.id  # from the store again
    assert guard.claim_body("offene-debatte", "Neu", "id3") == ""  # never stored: free


def test_duplicate_index_survives_a_torn_line(tmp_path):
    settings = make_settings(tmp_path)
    one = spam.Guard(settings)
    assert one.claim_body("a", "Eins", "id1") == ""
    index = tmp_path / "cache" / "intake" / spam.Guard.INDEX
    with open(index, "a", encoding="ascii") as out:
        out.write("0123456789abcdef")  # a write cut short by a crash
    two = spam.Guard(settings)
    assert two.claim_body("a", "Zwei", "id2") == ""
    assert one.claim_body("a", "Zwei", "id3") == "id2"
    assert spam.Guard(settings).claim_body("a", "Eins", "id4") == "id1"


def _claim_many(settings: dict, texts: list[str], name: str) -> list[str]:
    guard = spam.Guard(settings)
    return [text for text in texts if guard.claim_body("a", text, f"{name}-{text}") == ""]


def test_duplicate_index_each_text_is_claimed_once_across_processes(tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    settings = make_settings(tmp_path)
    texts = [f"Text {n}" for n in range(300)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        won = list(pool.map(_claim_many, [settings] * 4, [texts] * 4, "abcd"))
    assert sorted(t for w in won for t in w) == sorted(texts)


def test_akismet_client_is_made_once_and_asked_about_each_comment(tmp_path):
    RecordingHamClient.calls = []
    made = []

    class Counting(RecordingHamClient):
        def __init__(self, *args, **kwargs):
            made.append(self)
            super().__init__(*args, **kwargs)

    settings = make_settings(tmp_path, REPLIK_AKISMET_CLIENT=Counting)
    with live_server(create_app(settings=settings)) as (base, _):
        with client(base) as http:
            for text in ("Erster Text", "Zweiter Text", "Dritter Text"):
                answer = http.post("/replik/comment", data=form(body=text), headers=JSON)
                assert answer.status_code == 201, answer.text
    assert len(made) == 1
    assert [args["comment_content"] for _, args in RecordingHamClient.calls] == [
        "Erster Text", "Zweiter Text", "Dritter Text"]
    dates = [args["comment_date_gmt"] for _, args in RecordingHamClient.calls]
    assert len(set(dates)) == 3
    for _, args in RecordingHamClient.calls:
        assert args["comment_author"] == "Erika Muster"
        assert args["comment_author_email"] == "erika@example.org"
        assert args["comment_type"] == "comment" and args["permalink"]


def test_known_authors_are_read_once_a_minute_and_each_hit_checked(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    from test_intake_support import approved

    from replik.store import Entry

    settings = make_settings(tmp_path)
    store = Store(tmp_path / "comments")
    regular = approved(tmp_path / "comments", "offene-debatte", author="Stammgast",
                       email="stamm@example.org")
    store.add(Entry(id="20260301T120000000000Z-0000beef", article="offene-debatte",
                            body="Antwort", date=datetime.now(UTC), author="Redaktion",
                            email="redaktion@example.org", staff=True), "approved")

    def known(author: str, email: str) -> bool:
        return spam.known_author(settings, Entry(
            id="20260301T130000000000Z-0000cafe", article="offene-debatte", body="Neu",
            date=datetime.now(UTC), author=author, email=email))

    reads = []
    real_read = Store.approved_by_article
    monkeypatch.setattr(Store, "approved_by_article",
                        lambda self, **kw: reads.append(kw) or real_read(self, **kw))
    assert known("Stammgast", "STAMM@example.org")  # email compared case-insensitively
    assert not known("Stammgast", "other@example.org") and not known("Gast", "stamm@example.org")
    assert not known("Redaktion", "redaktion@example.org")  # staff answers do not count
    assert reads == [{"bodies": False}]  # one reading for all these comments, no texts
    # A first approval counts from the next reading on (a minute later) ...
    approved(tmp_path / "comments", "offene-debatte", author="Neu", email="neu@example.org")
    assert not known("Neu", "neu@example.org")
    monkeypatch.setattr(spam, "KNOWN_AUTHORS_MAX_AGE", 0.0)
    assert known("Neu", "neu@example.org") and len(reads) == 2
    # ... but a hit is checked against its entry: trashed since, it counts no more.
    monkeypatch.setattr(spam, "KNOWN_AUTHORS_MAX_AGE", 3600.0)
    store.move(regular.id, "trash")
    assert not known("Stammgast", "stamm@example.org")
