"""Webmention (W3C) against the app on loopback, with ronkyuu as a real sender."""

from __future__ import annotations

import httpx
import pytest
import ronkyuu
from click.testing import CliRunner
from linkback_support import h_entry, plain_post, running_blog, source_site

from replik.cli import main
from replik.state import open_state


@pytest.fixture
def sources():
    with source_site() as site:
        yield site


def send(blog, source: str, target: str, **extra: str) -> httpx.Response:
    return httpx.post(blog.url("REPLIK_WEBMENTION_URL"),
                      data={"source": source, "target": target, **extra}, timeout=10)


def test_ronkyuu_discovers_the_endpoint_and_a_reply_becomes_its_authors_comment(
        tmp_path, sources):
    with running_blog(tmp_path, build=True) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/notes/1", h_entry(
            "reply", target, author="Anna Beispiel", photo="http://localhost/anna.jpg",
            content="Da stimme ich zu, nur die Zahlen fehlen mir noch.",
            permalink="/notes/1"))
        response = ronkyuu.sendWebmention(source, target)
        assert response.status_code == 202
        assert "Location" not in response.headers
        [entry] = blog.wait_for(lambda: blog.entries("pending"))
        assert entry.type == "webmention"
        assert entry.extra["Webmention-Kind"] == "reply"
        assert entry.author == "Anna Beispiel"
        assert entry.url == sources.base + "/"
        assert entry.extra["Author-Photo"] == "http://localhost/anna.jpg"
        assert entry.body == "Da stimme ich zu, nur die Zahlen fehlen mir noch."
        assert entry.source == source
        assert entry.article == "offene-debatte"
        blog.wait_for(lambda: queue(blog).jobs() == [])  # the worker marks it done next


@pytest.mark.parametrize("kind", ["like", "repost", "mention"])
def test_likes_reposts_and_mentions_are_linkbacks(tmp_path, sources, kind):
    with running_blog(tmp_path, build=True) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add(f"/{kind}", h_entry(kind, target, author="Ben", name=f"Ein {kind}",
                                                 permalink=f"/{kind}"))
        endpoint = blog.url("REPLIK_WEBMENTION_URL")
        assert ronkyuu.sendWebmention(source, target, webmention=endpoint).status_code == 202
        [entry] = blog.wait_for(lambda: blog.entries("pending"))
        assert entry.extra["Webmention-Kind"] == kind
        assert entry.author == "Ben"
        assert entry.title == f"Ein {kind}"
        assert "<" not in entry.body
        if kind == "mention":
            assert "diesen Beitrag" in entry.body


def test_a_page_without_microformats_is_a_mention_with_the_page_title(tmp_path, sources):
    with running_blog(tmp_path) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/p", plain_post(target, title="Lesenswert"))
        assert send(blog, source, target).status_code == 202
        [entry] = blog.wait_for(lambda: blog.entries("pending"))
        assert entry.extra["Webmention-Kind"] == "mention"
        assert entry.title == "Lesenswert"
        assert entry.author == "Annas Notizen"
        assert "die offene Debatte" in entry.body


@pytest.mark.parametrize("fields, message", [
    ({}, "required"),
    ({"source": "http://localhost/a"}, "required"),
    ({"source": "not a url", "target": "{target}"}, "source must be an http"),
    ({"source": "ftp://localhost/a", "target": "{target}"}, "source must be an http"),
    # A line break that urllib would drop silently and httpx refuses: a bad URL, not a
    # job that fails later (it was accepted with 202 and then dropped without a word).
    ({"source": "http://localhost/a\r\nb", "target": "{target}"}, "source must be an http"),
    ({"source": "http://[x]/a", "target": "{target}"}, "source must be an http"),
    ({"source": "http://localhost/a", "target": "{target}\r\nX: 1"}, "target must be an http"),
    ({"source": "{target}", "target": "{target}"}, "must not be the same"),
    ({"source": "http://localhost/a", "target": "http://other.example/x/"}, "not on this site"),
    ({"source": "http://localhost/a", "target": "{base}/gibt-es-nicht/"}, "not an article"),
    ({"source": "http://localhost/a", "target": "{base}/geschlossen/"}, "closed"),
    ({"source": "http://localhost/a", "target": "{base}/impressum/"}, "a page"),
])
def test_invalid_requests_get_400_with_a_reason(tmp_path, fields, message):
    with running_blog(tmp_path) as blog:
        target = blog.permalink("offene-debatte")
        data = {k: v.format(target=target, base=blog.base) for k, v in fields.items()}
        response = httpx.post(blog.url("REPLIK_WEBMENTION_URL"), data=data)
        assert response.status_code == 400
        assert message in response.text
        assert queue(blog).jobs() == []


def test_wrong_method_type_and_size(tmp_path):
    with running_blog(tmp_path) as blog:
        url = blog.url("REPLIK_WEBMENTION_URL")
        assert httpx.get(url).status_code == 405
        assert httpx.post(url, json={"source": "a", "target": "b"}).status_code == 415
        big = {"source": "http://localhost/" + "a" * 20000, "target": "x"}
        answer = httpx.post(url, data=big)
        assert answer.status_code == 413
        # plain text like the endpoint's other answers, not an HTML page
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert "16384" in answer.text
        # Without a Content-Length (chunked) the body is cut off at the limit as well.
        chunked = httpx.post(url, content=iter([b"source=", b"a" * 20000, b"&target=x"]),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert chunked.status_code == 413


def test_rate_limit_and_blocklist(tmp_path, sources):
    with running_blog(tmp_path, REPLIK_LINKBACK_PER_MINUTE=2,
                      REPLIK_LINKBACK_BLOCKLIST=["spam.example"],
                      REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        blocked = send(blog, "http://www.spam.example/p", target)
        assert blocked.status_code == 400 and "not accepted" in blocked.text
        assert send(blog, sources.base + "/1", target).status_code == 202
        assert send(blog, sources.base + "/2", target).status_code == 202
        limited = send(blog, sources.base + "/3", target)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0


def test_no_link_and_gone_sources_store_nothing(tmp_path, sources):
    with running_blog(tmp_path, REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        nolink = sources.add("/nolink", plain_post(blog.base + "/impressum/"))
        gone = sources.add("/gone", "gone", status=410, content_type="text/plain")
        missing = sources.base + "/missing"
        for source in (nolink, gone, missing):
            assert send(blog, source, target).status_code == 202
        outcomes = [o for _job, o in work(blog)]
        assert len(outcomes) == 3 and all(o.startswith("dropped") for o in outcomes)
        assert blog.entries("pending") == []


def queue(blog):
    return open_state(blog.settings).webmentions


def work(blog):
    from replik.linkbacks import webmention
    from replik.linkbacks.receive import Receiver

    return webmention.work(Receiver(blog.settings), queue(blog))


def test_a_repeated_webmention_updates_and_a_gone_source_deletes(tmp_path, sources):
    with running_blog(tmp_path, REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/n", h_entry("reply", target, content="Erste Fassung."))
        send(blog, source, target)
        work(blog)
        [entry] = blog.entries("pending")
        blog.store.move(entry.id, "approved")

        sources.add("/n", h_entry("reply", target, content="Zweite, bessere Fassung."))
        send(blog, source, target)
        [(_job, outcome)] = work(blog)
        assert outcome == f"updated {entry.id}"
        # The changed text goes back to the moderators before it is shown again.
        [updated] = blog.entries("pending")
        assert updated.id == entry.id
        assert updated.body == "Zweite, bessere Fassung."
        assert blog.entries("approved") == []

        sources.add("/n", "deleted", status=410, content_type="text/plain")
        send(blog, source, target)
        [(_job, outcome)] = work(blog)
        assert outcome.startswith(f"deleted {entry.id}")
        assert blog.store.find(entry.id) is None


def test_a_source_that_no_longer_links_deletes_the_entry(tmp_path, sources):
    with running_blog(tmp_path, REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/m", plain_post(target))
        send(blog, source, target)
        work(blog)
        [entry] = blog.entries("pending")
        sources.add("/m", plain_post(blog.base + "/impressum/"))
        send(blog, source, target)
        work(blog)
        assert blog.store.find(entry.id) is None


def test_an_upstream_error_is_retried_later(tmp_path, sources):
    with running_blog(tmp_path, REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/busy", "busy", status=503, content_type="text/plain")
        send(blog, source, target)
        [(_job, outcome)] = work(blog)
        assert outcome.startswith("retry in 60 s")
        [job] = queue(blog).jobs()
        assert job.attempts == 1 and job.not_before > job.received + 59
        assert work(blog) == []  # not yet due


def test_the_queue_survives_a_restart(tmp_path, sources):
    site = tmp_path / "blog"
    # The public address stays the same across the restart; the loopback port does not.
    public = {"SITEURL": "https://blog.example", "FEED_DOMAIN": "https://blog.example"}
    target = "https://blog.example/offene-debatte/"
    with running_blog(site, REPLIK_WEBMENTION_WORKER=False, **public) as blog:
        source = sources.add("/p", plain_post(target))
        assert send(blog, source, target).status_code == 202
        assert blog.entries("pending") == []
        waiting = queue(blog)
    assert len(waiting) == 1
    with running_blog(site, **public) as restarted:
        [entry] = restarted.wait_for(lambda: restarted.entries("pending"))
        assert entry.source == source
        # The worker stores the entry first and then takes the job off the queue.
        restarted.wait_for(lambda: len(waiting) == 0)


def test_replik_linkbacks_work_processes_the_queue(tmp_path, sources):
    with running_blog(tmp_path, REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/p", plain_post(target))
        send(blog, source, target)
        result = CliRunner().invoke(
            main, ["--settings", str(tmp_path / "pelicanconf.py"), "linkbacks", "work"])
        assert result.exit_code == 0, result.output
        assert f"{source} -> {target}: stored" in result.output
        assert "1 webmention(s) processed, 0 waiting" in result.output
        assert len(blog.entries("pending")) == 1


def test_a_refused_source_address_is_not_fetched(tmp_path):
    with running_blog(tmp_path, REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        # Accepted at first (the check is asynchronous), then refused by the guard.
        assert send(blog, "http://169.254.169.254/latest/meta-data/", target).status_code == 202
        [(_job, outcome)] = work(blog)
        assert outcome.startswith("dropped") and "refused" in outcome


def test_a_job_left_by_a_dead_worker_is_picked_up_again(tmp_path, sources):
    import time

    with running_blog(tmp_path, REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/p", plain_post(target))
        send(blog, source, target)
        # A worker claims the job and is still at it: nobody else takes it.
        [claimed] = queue(blog).claim()
        assert work(blog) == []
        assert queue(blog).claim() == []
        # Its lease runs out (it died): the next worker takes the job.
        lease = queue(blog).LEASE_SECONDS
        [again] = queue(blog).claim(now=time.time() + lease + 1, lease=-lease - 2)
        assert again.id == claimed.id
        [(_job, outcome)] = work(blog)
        assert outcome.startswith("stored")
        assert len(queue(blog)) == 0
        assert len(blog.entries("pending")) == 1


def test_two_workers_never_claim_the_same_job(tmp_path):
    """Claims are one transaction: however the workers interleave, each job once."""
    import threading

    from replik.state import Job, State

    state = State(tmp_path / "state.sqlite3")
    ids = {state.webmentions.put(Job(f"http://s.example/{n}", "http://t.example/"))
           for n in range(60)}
    claimed: list[list[int]] = [[], [], []]
    start = threading.Barrier(3)

    def worker(mine: list[int]) -> None:
        start.wait()
        while jobs := state.webmentions.claim(2):
            mine.extend(job.id for job in jobs)

    threads = [threading.Thread(target=worker, args=(m,)) for m in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for mine in claimed for i in mine]
    assert sorted(everything) == sorted(ids)


def test_queued_webmentions_of_an_older_version_move_into_the_state_file(tmp_path, sources):
    """comments/queue/webmention/{new,cur}/*.json (the queue before the state file) is
    read into the state file on first use and the folder removed; a job that cannot be
    read is dropped, as the old worker dropped it."""
    import json

    site = tmp_path / "blog"
    public = {"SITEURL": "https://blog.example", "FEED_DOMAIN": "https://blog.example"}
    target = "https://blog.example/offene-debatte/"
    source = sources.add("/p", plain_post(target))
    old = site / "comments" / "queue" / "webmention"
    for folder in ("new", "cur", "tmp"):
        (old / folder).mkdir(parents=True)
    job = {"source": source, "target": target, "ip": "192.0.2.7", "user_agent": "Alt/1.0",
           "received": 1767225600.0, "attempts": 1, "not_before": 0.0}
    (old / "new" / "20260101T000000000000Z-aaaaaaaa.json").write_text(json.dumps(job))
    (old / "cur" / "20260101T000001000000Z-bbbbbbbb.json").write_text(json.dumps(
        {**job, "source": source + "?claimed", "attempts": 0}))
    (old / "new" / "20260101T000002000000Z-cccccccc.json").write_text("{not json")
    (old / "tmp" / "half-written").write_text('{"source": ')
    with running_blog(site, REPLIK_WEBMENTION_WORKER=False, **public) as blog:
        assert not (site / "comments" / "queue").exists()
        jobs = queue(blog).jobs()
        assert [(j.source, j.ip, j.user_agent, j.attempts, j.received) for j in jobs] == [
            (source, "192.0.2.7", "Alt/1.0", 1, 1767225600.0),
            (source + "?claimed", "192.0.2.7", "Alt/1.0", 0, 1767225600.0)]
        outcomes = [outcome for _job, outcome in work(blog)]
        assert len(outcomes) == 2 and all(o.startswith("stored") for o in outcomes)
        entries = blog.entries("pending")
        assert sorted(e.source for e in entries) == [source, source + "?claimed"]
        assert {e.ip for e in entries} == {"192.0.2.7"}


def test_an_unwritable_queue_gives_503_not_500(tmp_path):
    with running_blog(tmp_path, REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        # A damaged state file: every request's new connection fails to read it.
        (tmp_path / "comments" / "state.sqlite3").write_bytes(b"not a database" * 512)
        response = send(blog, "http://localhost/p", target)
        assert response.status_code == 503
        assert "try again later" in response.text
        assert response.headers["Retry-After"] == "300"


def post_with_comments(target: str) -> str:
    """A blog post as many themes mark it up: the post's h-entry without a u-url (the
    page is its permalink), its comments as nested h-entries whose u-url is
    ``#comment-N``; the post and the third comment link to us."""
    def comment(number: int, author: str, text: str) -> str:
        return (f'<li><article class="h-entry" id="comment-{number}">'
                f'<p class="p-author h-card"><img class="u-photo" src="/c{number}.jpg" alt="">'
                f'<a class="p-name u-url" href="https://{author.lower()}.example/">{author}</a>'
                f'</p><div class="e-content">{text}</div>'
                f'<a class="u-url" href="#comment-{number}">#</a></article></li>')

    return f"""<!doctype html><html lang="de"><head><title>Antworten im Netz</title></head>
<body><article class="h-entry">
<h1 class="p-name">Antworten im Netz</h1>
<p class="p-author h-card"><a class="u-url p-name" href="/">Anna Beispiel</a></p>
<time class="dt-published" datetime="2026-03-06T10:00:00+01:00">6. März</time>
<div class="e-content"><p>Heute habe ich <a href="{target}">die offene Debatte</a>
gelesen und mir Gedanken über schnelle Antworten gemacht.</p></div>
<section class="comments"><h2>3 Kommentare</h2><ol>
{comment(1, "Carla", "Schöner Text, danke!")}
{comment(2, "Dora", "Ich sehe das ähnlich.")}
{comment(3, "Bernd", f'Siehe auch <a href="{target}">dort</a>, sehr gut.')}
</ol></section></article></body></html>"""


def test_a_page_with_nested_comments_is_credited_to_the_post_not_a_commenter(
        tmp_path, sources):
    with running_blog(tmp_path, REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/2026/antworten", post_with_comments(target))
        assert send(blog, source, target).status_code == 202
        [(_job, outcome)] = work(blog)
        assert outcome.startswith("stored"), outcome
        [entry] = blog.entries("pending")
        assert entry.author == "Anna Beispiel"
        assert entry.url == sources.base + "/"
        assert entry.title == "Antworten im Netz"
        assert "Author-Photo" not in entry.extra
        assert entry.extra["Webmention-Kind"] == "mention"
        assert "die offene Debatte" in entry.body

        # The comment that links to us, sent as its own source (with its fragment), is
        # that commenter's mention: a second entry, not an update of the post's.
        comment = source + "#comment-3"
        assert send(blog, comment, target).status_code == 202
        [(_job, outcome)] = work(blog)
        assert outcome.startswith("stored"), outcome
        by_source = {e.source: e for e in blog.entries("pending")}
        assert set(by_source) == {source, comment}
        assert by_source[comment].author == "Bernd"
        assert by_source[comment].url == "https://bernd.example/"
        assert by_source[comment].extra["Author-Photo"] == sources.base + "/c3.jpg"
        assert by_source[source].author == "Anna Beispiel"


def test_a_webmention_from_a_source_stored_as_a_pingback_makes_it_a_webmention(
        tmp_path, sources):
    import xmlrpc.client

    from replik.store import Store

    with running_blog(tmp_path, REPLIK_WEBMENTION_WORKER=False) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/p", plain_post(target, title="Lesenswert"))
        xmlrpc.client.ServerProxy(blog.url("REPLIK_PINGBACK_URL")).pingback.ping(
            source, target)
        [entry] = blog.entries("pending")
        assert entry.type == "pingback"
        blog.store.move(entry.id, "approved")

        # The same page, now announced by webmention: the newest notification's type.
        assert send(blog, source, target).status_code == 202
        [(_job, outcome)] = work(blog)
        assert outcome == f"updated {entry.id}"
        [updated] = blog.entries("approved")  # the same words: it stays on the page
        assert updated.id == entry.id
        assert updated.type == "webmention"
        assert updated.extra["Webmention-Kind"] == "mention"
        assert updated.body == entry.body and updated.title == "Lesenswert"
        [record] = [r for r in Store(blog.settings.store).audit_trail(entry.id)
                    if r["action"].startswith("updated")]
        assert record["action"] == "updated pingback to webmention"
        assert (record["from"], record["to"]) == ("approved", "approved")

        # Now the page answers the post: a reply shows as a comment, which the
        # moderators see first.
        sources.add("/p", h_entry("reply", target, content="Meine Antwort darauf."))
        assert send(blog, source, target).status_code == 202
        [(_job, outcome)] = work(blog)
        assert outcome == f"updated {entry.id}"
        assert blog.entries("approved") == []
        [reply] = blog.entries("pending")
        assert (reply.id, reply.type) == (entry.id, "webmention")
        assert reply.extra["Webmention-Kind"] == "reply"
        assert reply.body == "Meine Antwort darauf."


def test_a_deleted_webmention_leaves_the_built_page(tmp_path, sources):
    """The server's worker deletes an approved webmention whose source no longer links;
    the rebuilder then takes it off the page, as after a moderator's decision."""
    from sitebuilder import build_site

    from replik.rebuild import read_status

    with running_blog(tmp_path) as blog:
        target = blog.permalink("offene-debatte")
        source = sources.add("/w", h_entry("reply", target, content="Bald nicht mehr."))
        send(blog, source, target)
        [entry] = blog.wait_for(lambda: blog.entries("pending"))
        blog.store.move(entry.id, "approved")
        page = tmp_path / "output" / "offene-debatte" / "index.html"
        build_site(blog.settings)
        assert entry.id in page.read_text()
        httpx.get(blog.base + blog.settings.desk_path + "/login", timeout=10)  # the rebuilder
        blog.wait_for(lambda: read_status(blog.settings).get("ok_finished"), timeout=60)

        sources.add("/w", plain_post(blog.base + "/impressum/"))
        send(blog, source, target)
        blog.wait_for(lambda: blog.store.find(entry.id) is None)
        blog.wait_for(lambda: entry.id not in page.read_text(), timeout=30)
