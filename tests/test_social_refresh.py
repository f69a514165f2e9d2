"""`replik social refresh` against fake Mastodon and Bluesky servers on loopback:
success, HTTP errors, slow answers, malformed JSON; then the build reads the file."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from replik.cli import main
from social_badges.context import build_social

ROOT = Path(__file__).resolve().parents[1]

FEDIVERSE_ACCOUNTS = {
    "firma": (200, {"id": "1", "username": "firma", "acct": "firma", "followers_count": 1086}),
    "gross": (200, {"username": "gross", "followers_count": 12345}),
    "fehlt": (404, {"error": "Record not found"}),
    "kaputt": (500, {"error": "Internal"}),
    "andere": (200, {"username": "jemand", "followers_count": 5}),
}
BLUESKY_PROFILES = {
    "firma.example": (200, {"did": "did:plc:x", "handle": "firma.example",
                            "followersCount": 2048}),
    "zahl.example": (200, {"handle": "zahl.example", "followersCount": "viele"}),
}


class FakeNetworks:
    """One WSGI app playing both a Mastodon server and Bluesky's public AppView."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        # The slow answer waits on this until teardown: only the client's timeout ends it.
        self.release = threading.Event()
        self.slow_answered = False

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.hits.append(request.full_path)
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        if request.path == "/api/v1/accounts/lookup":
            acct = request.args.get("acct", "")
            if acct == "langsam":
                self.release.wait(60.0)
                self.slow_answered = True
                return Response(json.dumps({"username": "langsam", "followers_count": 1}),
                                content_type="application/json")
            if acct == "unsinn":
                return Response('{"username": "unsinn", "followers_count": ',
                                content_type="application/json")
            if acct == "html":
                return Response("<html>Wartung</html>", content_type="text/html")
            status, body = FEDIVERSE_ACCOUNTS.get(acct, (404, {"error": "Record not found"}))
            return Response(json.dumps(body), status=status, content_type="application/json")
        if request.path == "/xrpc/app.bsky.actor.getProfile":
            status, body = BLUESKY_PROFILES.get(request.args.get("actor", ""),
                                       (400, {"error": "InvalidRequest"}))
            return Response(json.dumps(body), status=status, content_type="application/json")
        return Response("not found", status=404)


@pytest.fixture()
def fake() -> Iterator[tuple[FakeNetworks, str]]:
    app = FakeNetworks()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        app.release.set()
        server.shutdown()
        thread.join(timeout=5)


def mastodon(user: str, base: str, name: str | None = None) -> dict:
    # The profile URL's origin is the account's own server, where its count is looked up.
    channel = {"network": "mastodon", "handle": f"@{user}@social.example",
               "url": f"{base}/@{user}"}
    if name:
        channel["name"] = name
    return channel


def project(tmp_path: Path, base: str, channels: list[dict],
            timeout: float | None = None) -> Path:
    """A blog whose fetcher may reach the fake networks on loopback.

    Only the test of a slow server sets a short ``timeout``: elsewhere a loaded machine
    must not turn a prompt answer into a timed-out one (the fetcher's default holds)."""
    conf = tmp_path / "pelicanconf.py"
    conf.write_text(
        "SITENAME = 'Testblog'\n"
        "SITEURL = 'http://blog.test'\n"
        "PATH = 'content'\n"
        "DEFAULT_LANG = 'de'\n"
        f"THEME = {str(ROOT / 'theme')!r}\n"
        f"SOCIAL_CHANNELS = {channels!r}\n"
        f"SOCIAL_BLUESKY_API = {base!r}\n"
        "REPLIK_FETCH_ALLOW_PRIVATE = ['127.0.0.1', 'localhost']\n"
        + (f"REPLIK_FETCH_TIMEOUT = {timeout!r}\n" if timeout else ""), encoding="utf-8")
    (tmp_path / "content").mkdir()
    return conf


def run(conf: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--settings", str(conf), "social", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def stored(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "data" / "social_counts.json").read_text())["channels"]


def test_refresh_stores_counts_with_time(tmp_path: Path, fake) -> None:
    app, base = fake
    conf = project(tmp_path, base, [
        mastodon("firma", base), {"network": "bluesky", "handle": "firma.example"},
        {"network": "youtube", "handle": "@firma"}])
    before = datetime.now(UTC) - timedelta(seconds=1)
    code, output = run(conf, "refresh")
    assert code == 0, output
    data = stored(tmp_path)
    assert data["mastodon"]["followers"] == 1086
    assert data["bluesky"]["followers"] == 2048
    assert "youtube" not in data
    fetched = datetime.fromisoformat(data["mastodon"]["fetched"])
    assert before <= fetched <= datetime.now(UTC)
    assert "/api/v1/accounts/lookup?acct=firma" in app.hits
    assert "/xrpc/app.bsky.actor.getProfile?actor=firma.example" in app.hits
    assert "youtube" in output and "skipped" in output
    assert "2 refreshed, 0 failed, 1 skipped" in output
    # The build reads the file (and only the file).
    from replik.settings import load_settings

    social = build_social(load_settings(conf).pelican)
    assert [c.count_text for c in social.channels] == ["1.086 Follower", "2.048 Follower", ""]


def test_failures_are_reported_per_channel_and_keep_old_counts(tmp_path: Path, fake) -> None:
    app, base = fake
    channels = [
        mastodon("firma", base),
        mastodon("fehlt", base, "m-missing"),
        mastodon("kaputt", base, "m-error"),
        mastodon("langsam", base, "m-slow"),
        mastodon("unsinn", base, "m-malformed"),
        mastodon("html", base, "m-html"),
        mastodon("andere", base, "m-other"),
        {"network": "bluesky", "handle": "zahl.example"},
    ]
    conf = project(tmp_path, base, channels, timeout=2.0)
    old = (datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="seconds")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "social_counts.json").write_text(json.dumps({"version": 1, "channels": {
        "m-error": {"followers": 77, "fetched": old}}}))
    code, output = run(conf, "refresh")
    assert code == 0, output
    # The slow server answers only at teardown: the refresh ended because the fetcher gave up.
    assert not app.slow_answered
    lines = {line.split()[0]: line for line in output.splitlines() if line.strip()}
    assert "ok" in lines["mastodon"]
    assert "failed" in lines["m-missing"] and "HTTP 404" in lines["m-missing"]
    assert "failed" in lines["m-error"] and "HTTP 500" in lines["m-error"]
    assert "failed" in lines["m-slow"] and "time" in lines["m-slow"]
    assert "failed" in lines["m-malformed"] and "valid JSON" in lines["m-malformed"]
    assert "failed" in lines["m-html"]
    assert "failed" in lines["m-other"] and "'jemand'" in lines["m-other"]
    assert "failed" in lines["bluesky"] and "followersCount" in lines["bluesky"]
    assert "1 refreshed, 7 failed, 0 skipped" in output
    data = stored(tmp_path)
    assert set(data) == {"mastodon", "m-error"}
    assert data["m-error"] == {"followers": 77, "fetched": old}
    code, _ = run(conf, "refresh", "--strict", "--only", "m-error")
    assert code == 1


def test_refresh_only_one_channel(tmp_path: Path, fake) -> None:
    app, base = fake
    conf = project(tmp_path, base, [mastodon("firma", base),
                                    {"network": "bluesky", "handle": "firma.example"}])
    code, output = run(conf, "refresh", "--only", "bluesky")
    assert code == 0, output
    assert set(stored(tmp_path)) == {"bluesky"}
    assert not any("accounts/lookup" in hit for hit in app.hits)
    code, output = run(conf, "refresh", "--only", "nirgends")
    assert code == 2 and "no channel named nirgends" in output


def test_without_allow_list_loopback_is_refused(tmp_path: Path, fake) -> None:
    app, base = fake
    conf = project(tmp_path, base, [mastodon("firma", base)])
    text = conf.read_text().replace("['127.0.0.1', 'localhost']", "[]")
    conf.write_text(text)
    code, output = run(conf, "refresh")
    assert code == 0 and "failed" in output
    assert app.hits == []
    assert not (tmp_path / "data" / "social_counts.json").exists()


def test_set_records_a_manual_count(tmp_path: Path, fake) -> None:
    _, base = fake
    conf = project(tmp_path, base, [{"network": "linkedin", "handle": "company/firma"}])
    code, output = run(conf, "set", "linkedin", "2310")
    assert code == 0, output
    assert stored(tmp_path)["linkedin"]["followers"] == 2310
    code, output = run(conf, "show")
    assert "2310 followers, 0 days old" in output
    code, output = run(conf, "set", "linkedin", "-5")
    assert code == 2
    code, output = run(conf, "set", "xing", "5")
    assert code == 2 and "no channel named 'xing'" in output


def test_a_foreign_data_file_is_not_overwritten(tmp_path: Path, fake) -> None:
    _, base = fake
    conf = project(tmp_path, base, [mastodon("firma", base)])
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "social_counts.json"
    target.write_text("[1, 2, 3]")
    code, output = run(conf, "refresh")
    assert code == 1 and "no 'channels' object" in output
    assert target.read_text() == "[1, 2, 3]"


def test_bad_configuration_is_a_clear_error(tmp_path: Path, fake) -> None:
    _, base = fake
    conf = project(tmp_path, base, [{"network": "bluesky", "handle": "not a handle"}])
    code, output = run(conf, "refresh")
    assert code == 1
    assert "SOCIAL_CHANNELS[0] (bluesky): handle 'not a handle' is not a valid Bluesky" in output
