"""The state file holds what must not be lost; the cache only what can be derived."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from test_desk import csrf, logged_in
from test_desk_site import PASSWORD, Served, add_entry, hash_env

from replik import tokens
from replik.rebuild import is_live, read_status
from replik.settings import cache_path
from replik.state import open_state

JSON = {"Accept": "application/json"}


def comment(served: Served, body: str) -> httpx.Response:
    with httpx.Client(base_url=served.url, headers={"Origin": served.url, **JSON},
                      timeout=20) as http:
        return http.post("/replik/comment", data={
            "article": "post-1", "reply_to": "", "author": "Erika", "email": "e@example.org",
            "url": "", "body": body, "consent": "yes", "homepage": ""})


def wait_live(served: Served, since: float) -> None:
    deadline = time.time() + 60
    while not is_live(served.settings, since):
        assert time.time() < deadline, read_status(served.settings)
        time.sleep(0.05)


def test_deleting_the_cache_under_a_running_server_loses_nothing(tmp_path: Path,
                                                                 monkeypatch) -> None:
    hash_env(monkeypatch)
    served = Served(tmp_path / "site", posts=2, REPLIK_LOGIN_MAX_FAILURES=2,
                    REPLIK_WEBMENTION_WORKER=False)
    try:
        add_entry(served.store, "post-1", "approved", when=datetime(2026, 3, 1, tzinfo=UTC),
                  body="Schon vorher freigegeben.")
        served.wait_built()
        settings, state = served.settings, open_state(served.settings)
        desk = logged_in(served)  # a session (it must survive as well)

        # -- state of every kind, made through the running server ----------------------
        stranger = httpx.Client(base_url=served.url, timeout=20)
        token = csrf(stranger.get("/moderate/login").text)
        failed = stranger.post("/moderate/login", data={"csrf": token, "name": "anna",
                                                        "password": "falsch"})
        assert failed.status_code == 401  # a login failure
        pending = add_entry(served.store, "post-0", when=datetime(2026, 3, 1, tzinfo=UTC))
        link = "/replik/action/" + tokens.make_action(settings, "spam", pending.id)
        used = time.time()
        with httpx.Client(base_url=served.url, headers={"Origin": served.url},
                          timeout=20) as http:
            assert http.post(link).status_code == 200  # a used one-click link
        wait_live(served, used)
        built = read_status(settings)
        assert built["ok_finished"] and built["error"] == ""  # a rebuild status
        target = f"{served.url}/2026/post-1/"
        mention = httpx.post(served.url + "/replik/webmention", timeout=20, data={
            "source": "http://localhost:9/antwort", "target": target})
        assert mention.status_code == 202  # a queued webmention
        source = f"{served.url}/2026/post-0/"  # what `replik linkbacks send` records
        state.sent.record(source, "https://other.example/", {
            "hash": "abc", "via": "webmention", "ok": True, "endpoint": "https://e.example/"})
        state.sent.publish(["2026/post-0/", "2026/alt/"])
        first = comment(served, "Ein erster Kommentar.")
        assert first.status_code == 201  # the intake's derived index knows it now

        cache = cache_path(settings)
        assert (cache / "intake").is_dir() and (cache / "threads").is_dir()
        shutil.rmtree(cache)

        # -- nothing was lost ---------------------------------------------------------------
        with httpx.Client(base_url=served.url, headers={"Origin": served.url},
                          timeout=20) as http:
            again = http.post(link)
        assert again.status_code == 410  # the used link stays used
        assert served.store.get(pending.id).state == "spam"
        [job] = state.webmentions.jobs()  # the queue still holds its job
        assert (job.source, job.target) == ("http://localhost:9/antwort", target)
        assert state.sent.get(source, "https://other.example/")["hash"] == "abc"
        assert state.sent.published() == {"2026/post-0/", "2026/alt/"}
        assert read_status(settings)["ok_finished"] == built["ok_finished"]
        assert is_live(settings, built["ok_started"])
        # The earlier failure still counts: one more and the address is locked.
        failed = stranger.post("/moderate/login", data={"csrf": token, "name": "anna",
                                                        "password": "falsch"})
        assert failed.status_code == 401
        locked = stranger.post("/moderate/login", data={"csrf": token, "name": "anna",
                                                        "password": PASSWORD})
        assert locked.status_code == 429

        # -- and the server keeps working ------------------------------------------------------
        assert comment(served, "Ein erster Kommentar.").status_code == 409  # index rebuilt
        second = comment(served, "Ein zweiter Kommentar, nach dem Löschen.")
        assert second.status_code == 201
        entry_id = second.json()["id"]
        page = desk.get(f"/moderate/entry/{entry_id}")
        assert page.status_code == 200  # the session survived
        decided = time.time()
        answer = desk.post(f"/moderate/entry/{entry_id}/act",
                           data={"csrf": csrf(page.text), "action": "approve"})
        assert answer.status_code == 200
        wait_live(served, decided)
        article = (Path(settings.output_path) / "2026" / "post-1" / "index.html"
                   ).read_text("utf-8")
        assert "Ein zweiter Kommentar, nach dem Löschen." in article
        assert "Schon vorher freigegeben." in article
    finally:
        served.close()
