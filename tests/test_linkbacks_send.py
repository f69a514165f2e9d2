"""Sending linkbacks: discovery, notification and the sent-log, against loopback receivers."""

from __future__ import annotations

import json
import subprocess
import sys
import xmlrpc.client

import pytest
from click.testing import CliRunner
from linkback_support import make_settings, source_site
from werkzeug.wrappers import Request, Response

from replik.cli import main
from replik.linkbacks import send
from replik.state import open_state

SITE = "https://blog.example"


class WebmentionEndpoint:
    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.received: list[dict[str, str]] = []

    def respond(self, request: Request) -> Response:
        self.received.append(dict(request.form))
        return Response("", status=self.status)


class PingbackServer:
    def __init__(self, fault: int = 0) -> None:
        self.fault = fault
        self.received: list[tuple] = []

    def respond(self, request: Request) -> Response:
        params, method = xmlrpc.client.loads(request.get_data())
        self.received.append((method, *params))
        if self.fault:
            body = xmlrpc.client.dumps(xmlrpc.client.Fault(self.fault, "nein"),
                                       methodresponse=True)
        else:
            body = xmlrpc.client.dumps(("Danke!",), methodresponse=True)
        return Response(body, content_type="text/xml")


@pytest.fixture
def receivers():
    with source_site() as site:
        site.header_wm = WebmentionEndpoint()
        site.link_wm = WebmentionEndpoint()
        site.anchor_wm = WebmentionEndpoint()
        site.pingback = PingbackServer()
        site.pages["/wm/header"] = site.header_wm
        site.pages["/wm/link"] = site.link_wm
        site.pages["/wm/anchor"] = site.anchor_wm
        site.pages["/xmlrpc"] = site.pingback
        site.add("/a", "<html><body>A</body></html>",
                 headers={"Link": '<https://x.example/other>; rel="other", '
                                  '</wm/header>; rel="webmention"'})
        site.add("/b", '<html><head><link rel="webmention" href="/wm/link"></head>'
                       "<body>B</body></html>")
        site.add("/c", '<html><body><a href="/wm/anchor" rel="nofollow webmention">wm</a>'
                       "</body></html>")
        site.add("/d", "<html><body>D</body></html>", headers={"X-Pingback": "/xmlrpc"})
        site.add("/e", '<html><head><link rel="pingback" href="/xmlrpc"></head></html>')
        site.add("/f", "<html><body>no endpoint here</body></html>")
        site.add("/g", "<html><body>G</body></html>",
                 headers={"Link": '<http://10.0.0.1/webmention>; rel="webmention"'})
        yield site


def write_post(site_dir, slug: str, links: list[str], text: str = "") -> None:
    lines = "\n".join(f"- [{url}]({url})" for url in links)
    (site_dir / "content" / f"{slug}.md").write_text(
        f"Title: Linkliste\nDate: 2026-03-06 10:00\nSlug: {slug}\nCategory: Meinung\n\n"
        f"Lesenswert{text}:\n\n{lines}\n\n[Intern]({SITE}/offene-debatte/)\n", encoding="utf-8")


@pytest.fixture
def blog(tmp_path, receivers):
    settings = make_settings(tmp_path, SITE, REPLIK_LINKBACK_SEND_IGNORE=["ignored.example"])
    links = [receivers.base + p for p in ("/a", "/b", "/c", "/d", "/e", "/f")]
    write_post(tmp_path, "linkliste", links + ["http://www.ignored.example/x"])
    return tmp_path, settings


def cli(site_dir, *args: str):
    return CliRunner().invoke(main, ["--settings", str(site_dir / "pelicanconf.py"),
                                     "linkbacks", "send", *args])


def sent_log(settings):
    """What the state file says was sent and published."""
    return open_state(settings).sent


def endpoint_hits(receivers) -> int:
    return (len(receivers.header_wm.received) + len(receivers.link_wm.received)
            + len(receivers.anchor_wm.received) + len(receivers.pingback.received))


def test_dry_run_lists_and_sends_nothing(blog, receivers):
    site_dir, settings = blog
    result = cli(site_dir, "--dry-run")
    assert result.exit_code == 0, result.output
    source = f"{SITE}/linkliste/"
    for path in ("/a", "/b", "/c", "/d", "/e", "/f"):
        assert f"would notify {source} -> {receivers.base}{path}" in result.output
    assert "ignored.example" not in result.output
    assert "offene-debatte" not in result.output  # our own site is never notified
    assert "6 notification(s) would be sent (dry run)" in result.output
    assert receivers.hits == []
    assert sent_log(settings).sources() == [] and sent_log(settings).published() == set()


def test_send_discovers_and_notifies_each_target_once(blog, receivers):
    site_dir, settings = blog
    source = f"{SITE}/linkliste/"
    result = cli(site_dir)
    assert result.exit_code == 0, result.output
    assert receivers.header_wm.received == [{"source": source, "target": receivers.base + "/a"}]
    assert receivers.link_wm.received == [{"source": source, "target": receivers.base + "/b"}]
    assert receivers.anchor_wm.received == [{"source": source, "target": receivers.base + "/c"}]
    assert sorted(receivers.pingback.received) == [
        ("pingback.ping", source, receivers.base + "/d"),
        ("pingback.ping", source, receivers.base + "/e"),
    ]
    assert "no webmention or pingback endpoint" in result.output
    assert "6 handled, 0 failed" in result.output
    assert not [h for h in receivers.hits if "ignored" in h.url]
    assert all(h.headers["User-Agent"] == f"Replik/0.1.0 (+{SITE})" for h in receivers.hits)

    log = sent_log(settings)
    assert log.get(source, receivers.base + "/a")["via"] == "webmention"
    assert log.get(source, receivers.base + "/d")["via"] == "pingback"
    assert log.get(source, receivers.base + "/f")["via"] == "none"
    assert log.get(source, receivers.base + "/a")["ok"] is True

    # Nothing is sent twice.
    hits = len(receivers.hits)
    again = cli(site_dir)
    assert again.exit_code == 0
    assert "Nothing to send" in again.output
    assert len(receivers.hits) == hits


def test_a_changed_post_resends_webmentions_but_never_a_second_pingback(blog, receivers):
    site_dir, settings = blog
    cli(site_dir)
    base = receivers.base
    # /a is dropped from the post, the text changes.
    write_post(site_dir, "linkliste", [base + p for p in ("/b", "/c", "/d", "/e", "/f")],
               text=" (aktualisiert)")
    result = cli(site_dir)
    assert result.exit_code == 0, result.output
    # The receiver of the removed link hears about it (it will find no link and delete).
    assert len(receivers.header_wm.received) == 2
    assert len(receivers.link_wm.received) == 2
    assert len(receivers.anchor_wm.received) == 2
    assert len(receivers.pingback.received) == 2  # unchanged: pingback has no updates
    assert "pinged before" in result.output


def test_failures_are_reported_and_tried_again(blog, receivers):
    site_dir, settings = blog
    receivers.header_wm.status = 500
    receivers.pingback.fault = 0x11
    result = cli(site_dir)
    assert result.exit_code == 1
    assert "FAILED" in result.output and "HTTP 500" in result.output
    assert "fault 17" in result.output
    assert "3 handled, 3 failed (they are tried again next time)" in result.output
    receivers.header_wm.status = 202
    receivers.pingback.fault = 0
    retry = cli(site_dir)
    assert retry.exit_code == 0, retry.output
    assert "3 handled, 0 failed" in retry.output


def test_already_registered_counts_as_sent(blog, receivers):
    site_dir, settings = blog
    receivers.pingback.fault = 0x30
    result = cli(site_dir)
    assert result.exit_code == 0
    assert "already registered" in result.output


def test_an_endpoint_on_a_private_address_is_refused(tmp_path, receivers):
    settings = make_settings(tmp_path, SITE)
    write_post(tmp_path, "linkliste", [receivers.base + "/g"])
    [outcome] = send.run(settings)
    assert outcome.kind == "webmention" and not outcome.ok
    assert "10.0.0.1" in outcome.detail and "refused" in outcome.detail


def test_discovery_prefers_the_link_header_and_resolves_relative_urls(tmp_path, receivers):
    settings = make_settings(tmp_path, SITE)
    receivers.add("/both", '<html><head><link rel="pingback" href="/xmlrpc">'
                           '<link rel="webmention" href="/wm/link"></head></html>',
                  headers={"Link": '</wm/header>; rel="webmention"', "X-Pingback": "/xmlrpc"})
    receivers.add("/empty", '<html><head><link rel="webmention" href=""></head></html>')
    assert send.discover(receivers.base + "/both", settings) == send.Endpoint(
        "webmention", receivers.base + "/wm/header")
    assert send.discover(receivers.base + "/empty", settings) == send.Endpoint(
        "webmention", receivers.base + "/empty")
    missing = send.discover(receivers.base + "/does-not-exist", settings)
    assert missing.kind == "none" and not missing.transient


def test_a_publish_build_sends_when_the_plugin_is_on(tmp_path, receivers):
    from sitebuilder import build_site

    settings = make_settings(tmp_path, SITE, PLUGINS=["replik", "replik.linkbacks"],
                             REPLIK_LINKBACK_SEND_ON_BUILD=True)
    write_post(tmp_path, "linkliste", [receivers.base + "/b"])
    build_site(settings)
    assert receivers.link_wm.received == [{"source": f"{SITE}/linkliste/",
                                           "target": receivers.base + "/b"}]
    build_site(settings)  # a second build sends nothing new
    assert len(receivers.link_wm.received) == 1


def test_a_build_without_the_setting_sends_nothing(tmp_path, receivers):
    from sitebuilder import build_site

    settings = make_settings(tmp_path, SITE, PLUGINS=["replik", "replik.linkbacks"])
    write_post(tmp_path, "linkliste", [receivers.base + "/b"])
    build_site(settings)
    assert receivers.hits == []


def test_a_broken_sent_log_of_an_older_version_is_a_clear_error(blog, receivers):
    site_dir, settings = blog
    log = site_dir / "comments" / "sent" / "linkbacks.json"
    log.parent.mkdir(parents=True)
    log.write_text("{broken")
    result = cli(site_dir)
    assert result.exit_code == 1
    assert "is not a valid sent-log" in result.output
    assert "Traceback" not in result.output
    # Nothing is sent while it cannot be moved into the state file: that would
    # notify everyone again.
    assert receivers.hits == []
    assert log.read_text() == "{broken"


def test_the_sent_log_of_an_older_version_moves_into_the_state_file(blog, receivers):
    """An upgraded site keeps what it sent and published: the old JSON file is read
    into the state file once and renamed to linkbacks.json.migrated."""
    from replik import state as state_module
    from replik.state import state_path

    site_dir, settings = blog
    assert cli(site_dir).exit_code == 0
    hits = endpoint_hits(receivers)
    source = f"{SITE}/linkliste/"
    # The same facts in the old format (as an older version wrote them), and no state file.
    old = {"sent": {source: {t: sent_log(settings).get(source, t)
                             for t in sent_log(settings).targets(source)}},
           "published": sorted(sent_log(settings).published() | {"geloescht/"})}
    assert len(old["sent"][source]) == 6
    for path in state_path(settings).parent.glob(state_path(settings).name + "*"):
        path.unlink()
    state_module._open.clear()  # as in a process started after the upgrade
    log = site_dir / "comments" / "sent" / "linkbacks.json"
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps(old), encoding="utf-8")

    again = cli(site_dir)
    assert again.exit_code == 0, again.output
    assert "Nothing to send" in again.output
    assert endpoint_hits(receivers) == hits
    assert not log.exists()
    assert json.loads((log.parent / "linkbacks.json.migrated").read_text()) == old
    assert sent_log(settings).published() == set(old["published"])
    assert sent_log(settings).get(source, receivers.base + "/d")["via"] == "pingback"


@pytest.mark.parametrize("siteurl", ["http://127.0.0.1:8000", "http://localhost:8000",
                                     "http://10.1.2.3", ""])
def test_a_local_siteurl_is_never_announced(tmp_path, receivers, siteurl):
    make_settings(tmp_path, siteurl)
    write_post(tmp_path, "linkliste", [receivers.base + "/b"])
    result = cli(tmp_path)
    assert result.exit_code == 1
    assert "other sites cannot reach it" in result.output
    assert "publishconf.py" in result.output
    assert receivers.hits == []
    assert cli(tmp_path, "--dry-run").exit_code == 0  # listing is fine


def test_a_deleted_post_resends_its_webmentions_once(blog, receivers):
    site_dir, settings = blog
    base, source = receivers.base, f"{SITE}/linkliste/"
    write_post(site_dir, "andere", [base + "/b"])  # a second post that stays
    assert cli(site_dir).exit_code == 0
    hits = endpoint_hits(receivers)
    assert sent_log(settings).published() == {
        "andere/", "geschlossen/", "linkliste/", "offene-debatte/"}

    (site_dir / "content" / "linkliste.md").unlink()
    dry = cli(site_dir, "--dry-run")
    assert dry.exit_code == 0, dry.output
    # Webmention receivers hear of the deletion; pingback has no way to say it.
    for path in ("/a", "/b", "/c"):
        assert (f"would notify {source} -> {base}{path} (post deleted: tell the receiver)"
                in dry.output)
    assert "3 notification(s) would be sent" in dry.output
    assert endpoint_hits(receivers) == hits

    result = cli(site_dir)
    assert result.exit_code == 0, result.output
    assert receivers.header_wm.received[-1] == {"source": source, "target": base + "/a"}
    assert receivers.link_wm.received[-1] == {"source": source, "target": base + "/b"}
    assert len(receivers.anchor_wm.received) == 2
    assert len(receivers.pingback.received) == 2  # /d and /e once, when published
    assert f"ok     {source} -> {base}/a (post deleted) via webmention" in result.output
    assert "3 handled, 0 failed" in result.output
    assert sent_log(settings).get(source, base + "/a")["hash"] == "deleted"
    # still answered with 410 by later builds
    assert "linkliste/" in sent_log(settings).published()
    assert "Nothing to send" in cli(site_dir).output

    # Published again, it is announced again.
    write_post(site_dir, "linkliste", [base + "/a"])
    again = cli(site_dir)
    assert again.exit_code == 0, again.output
    assert len(receivers.header_wm.received) == 3


BUILD_AND_LIST_IMPORTS = """
import sys
from pelican import Pelican
from pelican.settings import read_settings
Pelican(read_settings(sys.argv[1])).run()
print(sorted(m for m in sys.modules if m.partition(".")[0] in sys.argv[2:]))
"""


def test_a_build_imports_nothing_of_the_sender(blog, receivers):
    """gone.map needs the published posts from the state file, not the sender: a build
    (in a fresh process) never imports the network stack (16 MB and 0.3 s a build)."""
    site_dir, settings = blog
    assert cli(site_dir).exit_code == 0
    (site_dir / "content" / "linkliste.md").unlink()
    result = subprocess.run([sys.executable, "-c", BUILD_AND_LIST_IMPORTS,
                             str(site_dir / "pelicanconf.py"), "httpx", "lxml", "mf2py", "bs4",
                             "html5lib", "replik"], capture_output=True, text=True, check=True)
    imported = result.stdout.splitlines()[-1]
    assert "'replik.writers'" in imported, imported  # the plugin ran, and listed
    assert not any(name in imported for name in ("httpx", "lxml", "mf2py", "bs4", "html5lib",
                                                 "replik.linkbacks")), imported
    assert '"/linkliste/" 1;' in (site_dir / "output" / "gone.map").read_text()


def test_a_post_is_not_taken_for_deleted_when_the_site_moved_or_has_no_posts(
        blog, receivers, tmp_path):
    site_dir, settings = blog
    assert cli(site_dir).exit_code == 0
    hits = endpoint_hits(receivers)
    # The blog moves to another address: the old sources are not "deleted".
    conf = site_dir / "pelicanconf.py"
    conf.write_text(conf.read_text() + "SITEURL = 'https://neu.example'\n")
    moved = cli(site_dir, "--dry-run")
    assert "post deleted" not in moved.output, moved.output
    # A wrong content folder reads no posts: nothing is taken for deleted either.
    conf.write_text(conf.read_text() + "SITEURL = 'https://blog.example'\n"
                    f"PATH = {str(tmp_path / 'leer')!r}\n")
    (tmp_path / "leer").mkdir()
    empty = cli(site_dir, "--dry-run")
    assert empty.exit_code == 0 and "Nothing to send" in empty.output, empty.output
    assert endpoint_hits(receivers) == hits


def test_a_build_reads_the_published_posts_of_an_older_version(tmp_path):
    """The first thing an upgraded site runs may be a build: it moves the old sent-log
    into the state file and still lists the deleted post in gone.map. A build of a site
    that never sent anything makes no state file."""
    from linkback_support import build_site

    from replik.state import state_path

    settings = make_settings(tmp_path, SITE)
    write_post(tmp_path, "linkliste", [])
    output = build_site(settings)
    assert not state_path(settings).exists()
    assert " 1;" not in (output / "gone.map").read_text()  # nothing gone

    log = tmp_path / "comments" / "sent" / "linkbacks.json"
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps({"sent": {}, "published": ["linkliste/", "alt/"]}))
    build_site(settings)
    gone = (output / "gone.map").read_text()
    assert '"/alt/" 1;' in gone and "linkliste" not in gone
    assert not log.exists() and (log.parent / "linkbacks.json.migrated").exists()
    assert sent_log(settings).published() == {"linkliste/", "alt/"}
