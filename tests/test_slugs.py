"""Slugs spell German out (ä→ae, ö→oe, ü→ue, ß→ss) wherever one is made: the build
(posts, pages, tags, categories, authors), the server's and the command line's view
of the posts, and the WordPress importer. A ``Slug:`` written in a post is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sitebuilder import build_site, write_project_conf

from replik.articles import ArticleIndex
from replik.cli import main
from replik.importers.articles import content_articles
from replik.settings import load_settings
from replik.slugs import slugify

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = load_settings(ROOT / "pelicanconf.py")

POST = """\
Title: Öffnungszeiten ärgern Kunden
Date: 2026-06-01 10:00
Category: Großhandel
Tags: Öffnungszeiten, Kundenservice
Author: Jürgen Weiß

Ein Beitrag ohne eigene Slug-Zeile.
"""
EXPLICIT = """\
Title: Grüße aus Köln
Slug: gruse-aus-koln
Date: 2026-06-02 10:00

Die Adresse gab es schon, sie bleibt.
"""


@pytest.mark.parametrize(("title", "slug"), [
    ("Öffnungszeiten ärgern Kunden", "oeffnungszeiten-aergern-kunden"),
    ("Straße, Maß & GRÜSSE", "strasse-mass-gruesse"),
    ("ÄRGER über Übergrößen", "aerger-ueber-uebergroessen"),
    ("Café „Überall“ – Señor Ørsted", "cafe-ueberall-senor-orsted"),
    ("Der Chatbot spricht für Sie", "der-chatbot-spricht-fuer-sie"),
    ("Reply in the reader's language", "reply-in-the-readers-language"),
    ("a\u0308hnlich (zerlegt geschrieben)", "aehnlich-zerlegt-geschrieben"),
])
def test_titles_become_german_slugs(title: str, slug: str) -> None:
    assert slugify(title, SETTINGS) == slug


def blog(tmp_path: Path) -> dict:
    content = tmp_path / "content"
    content.mkdir()
    (content / "oeffnungszeiten.md").write_text(POST, encoding="utf-8")
    (content / "koeln.md").write_text(EXPLICIT, encoding="utf-8")
    return load_settings(ROOT / "pelicanconf.py", override={
        "PATH": str(content), "OUTPUT_PATH": str(tmp_path / "output"),
        "REPLIK_STORE": str(tmp_path / "comments"), "REPLIK_CACHE": "",
        "CACHE_CONTENT": False, "LOAD_CONTENT_CACHE": False, "SITEURL": "http://blog.test",
        "FEED_DOMAIN": "http://blog.test", "SOCIAL_CHANNELS": []})


def test_the_build_the_server_and_the_cli_agree_on_german_slugs(tmp_path: Path) -> None:
    settings = blog(tmp_path)
    build_site(settings)
    out = tmp_path / "output"
    assert (out / "2026" / "oeffnungszeiten-aergern-kunden" / "index.html").is_file()
    assert (out / "2026" / "gruse-aus-koln" / "index.html").is_file()  # as written
    assert (out / "tag" / "oeffnungszeiten.html").is_file()
    assert (out / "category" / "grosshandel.html").is_file()
    assert (out / "author" / "juergen-weiss.html").is_file()
    # The server and the command line read the posts without the build's plugins.
    expected = {"oeffnungszeiten-aergern-kunden", "gruse-aus-koln"}
    assert set(ArticleIndex(settings.replace(REPLIK_CONTENT_POLL=60.0)).articles) == expected
    assert {a.slug for a in content_articles(settings)} == expected


WXR = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>Alt</title><link>https://alt.example</link><wp:wxr_version>1.2</wp:wxr_version>
{items}
</channel></rss>
"""
ITEM = """<item><title>{title}</title><dc:creator>redaktion</dc:creator>
<content:encoded><![CDATA[<p>Text</p>]]></content:encoded>
<wp:post_id>{post_id}</wp:post_id><wp:post_date>2015-03-01 10:00:00</wp:post_date>
<wp:post_date_gmt>2015-03-01 09:00:00</wp:post_date_gmt><wp:post_name>{name}</wp:post_name>
<wp:status>publish</wp:status><wp:post_type>post</wp:post_type></item>"""


def test_the_wordpress_importer_spells_german_out(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    conf = write_project_conf(tmp_path, PATH=str(tmp_path / "content"),
                              REPLIK_STORE=str(tmp_path / "comments"))
    export = tmp_path / "export.xml"
    export.write_text(WXR.format(items="\n".join([
        # No post_name: the slug comes from the title.
        ITEM.format(title="Öffnungszeiten ärgern Kunden", post_id=1, name=""),
        # WordPress's own address is kept as it was (links to it keep working).
        ITEM.format(title="Grüße", post_id=2, name="gruesse-von-frueher"),
    ])), encoding="utf-8")
    result = CliRunner().invoke(main, ["--settings", str(conf), "import", "wordpress",
                                       str(export)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    slugs = sorted(line.split(":", 1)[1].strip()
                   for path in (tmp_path / "content").rglob("*.md")
                   for line in path.read_text(encoding="utf-8").splitlines()
                   if line.startswith("Slug:"))
    assert slugs == ["gruesse-von-frueher", "oeffnungszeiten-aergern-kunden"]
