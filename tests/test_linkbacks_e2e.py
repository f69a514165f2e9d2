"""End to end: a pingback and a webmention arrive, a moderator approves them with
``replik approve``, Pelican builds the blog, and the article shows them as linkbacks."""

from __future__ import annotations

import xmlrpc.client

import lxml.html
import ronkyuu
from click.testing import CliRunner
from linkback_support import build_site, h_entry, plain_post, running_blog, source_site

from replik.cli import main


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
