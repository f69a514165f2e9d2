"""End to end: a pingback and a webmention arrive, a moderator approves them with
``replik approve``, Pelican builds the blog, and the article shows them as linkbacks."""

from __future__ import annotations

import xmlrpc.client

import lxml.html
import ronkyuu
from click.testing import CliRunner
from linkback_support import h_entry, plain_post, running_blog, source_site
from sitebuilder import build_site

from replik.cli import main
from replik.state import open_state


def test_received_linkbacks_show_in_the_built_article_after_approval(tmp_path):
    with source_site() as sources, running_blog(tmp_path, build=True) as blog:
        target = blog.permalink("offene-debatte")
        ping_source = sources.add("/2026/gedanken", plain_post(
            target, title="Gedanken zur Debatte"))
        mention_source = sources.add("/notes/7", h_entry(
            "mention", target, author="Carla Beispiel", name="Wochennotizen",
            content=f'Diese Woche gelesen: <a href="{target}">eine offene Debatte</a> über'
                    " Antworten im Netz.", permalink="/notes/7"))

        xmlrpc.client.ServerProxy(blog.url("REPLIK_PINGBACK_URL")).pingback.ping(
            ping_source, target)
        assert ronkyuu.sendWebmention(mention_source, target).status_code == 202
        pending = blog.wait_for(lambda: [e for e in blog.entries("pending")
                                         if e.type == "webmention"] and blog.entries("pending"))
        assert {e.type for e in pending} == {"pingback", "webmention"}

        # Before approval nothing shows.
        build_site(blog.settings)
        page = (tmp_path / "output" / "offene-debatte" / "index.html").read_text("utf-8")
        assert "Gedanken zur Debatte" not in page

        conf = str(tmp_path / "pelicanconf.py")
        result = CliRunner().invoke(main, ["--settings", conf, "approve",
                                           *[e.id for e in pending]])
        assert result.exit_code == 0, result.output
        assert blog.entries("pending") == []

        build_site(blog.settings)
        page = (tmp_path / "output" / "offene-debatte" / "index.html").read_text("utf-8")
        doc = lxml.html.fromstring(page)
        linkbacks = doc.xpath('//*[contains(concat(" ", @class, " "), " comment-linkback ")]')
        assert len(linkbacks) == 2
        by_type = {}
        for node in linkbacks:
            kind = "pingback" if "comment-pingback" in node.get("class") else "webmention"
            by_type[kind] = node
        pingback = by_type["pingback"]
        link = pingback.xpath('.//*[@class="comment-author"]/a')[0]
        assert link.text_content().strip() == "Gedanken zur Debatte"
        assert link.get("href") == ping_source
        body = pingback.xpath('.//*[@class="comment-body"]')[0].text_content()
        assert "[…]" in body and "die offene Debatte" in body

        mention = by_type["webmention"]
        assert mention.xpath('.//*[@class="comment-author"]/a')[0].get("href") == mention_source
        assert "Wochennotizen" in mention.text_content()
        assert "eine offene Debatte" in mention.text_content()


def test_a_deleted_post_answers_410_and_its_webmentions_are_withdrawn(tmp_path, monkeypatch):
    """Two Replik blogs on loopback. Blog A's post links to blog B's, and B shows A's
    webmention. A deletes the post: A's server answers 410 Gone for it, the publish
    path sends the webmention again, and B, finding 410, deletes its entry."""
    import socket

    import httpx
    from linkback_support import make_settings
    from liveserver import live_server

    from replik.cli.server import build_local_app

    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        # Blog A's public-looking name is this machine (nothing leaves loopback).
        return real("127.0.0.1" if host == "blog-a.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with running_blog(tmp_path / "b", build=True,
                      REPLIK_FETCH_ALLOW_PRIVATE=["blog-a.test"]) as blog_b, \
            live_server(name="blog-a.test") as (base_a, holder_a):
        target = blog_b.permalink("offene-debatte")
        site_a = tmp_path / "a"
        settings_a = make_settings(site_a, base_a, REPLIK_FETCH_ALLOW_PRIVATE=["127.0.0.1"])
        post = site_a / "content" / "linkliste.md"
        post.write_text("Title: Linkliste\nDate: 2026-03-06 10:00\nSlug: linkliste\n\n"
                        f"Lesenswert: [die offene Debatte]({target}).\n", encoding="utf-8")
        build_site(settings_a)
        holder_a.app = build_local_app(settings_a)
        source = f"{base_a}/linkliste/"
        assert httpx.get(source).status_code == 200

        conf_a = str(site_a / "pelicanconf.py")
        sent = CliRunner().invoke(main, ["--settings", conf_a, "linkbacks", "send"])
        assert sent.exit_code == 0, sent.output
        assert f"ok     {source} -> {target} via webmention" in sent.output
        [entry] = blog_b.wait_for(lambda: blog_b.entries("pending"))
        assert entry.source == source
        blog_b.store.move(entry.id, "approved")
        log = open_state(settings_a).sent
        assert "linkliste/" in log.published()

        # The post is deleted. Its old page stays in output/ (DELETE_OUTPUT_DIRECTORY is
        # off), but the build lists it as gone and the server answers 410.
        post.unlink()
        publish = {**settings_a.pelican, "REPLIK_LINKBACK_SEND_ON_BUILD": True,
                   "PLUGINS": [*settings_a.pelican["PLUGINS"], "replik.linkbacks"]}
        build_site(publish)  # the publish path: build, then send
        assert (site_a / "output" / "linkliste" / "index.html").is_file()
        assert '"/linkliste/" 1;' in (site_a / "output" / "gone.map").read_text()
        for path in ("/linkliste/", "/linkliste", "/linkliste/index.html"):
            assert httpx.get(base_a + path).status_code == 410, path
        assert httpx.get(base_a + "/offene-debatte/").status_code == 200

        # B was told, found 410 Gone and deleted the webmention.
        blog_b.wait_for(lambda: blog_b.store.find(entry.id) is None)
        record = log.get(source, target)
        assert record["hash"] == "deleted" and record["deleted"] and record["ok"]
        again = CliRunner().invoke(main, ["--settings", conf_a, "linkbacks", "send"])
        assert "Nothing to send" in again.output, again.output
