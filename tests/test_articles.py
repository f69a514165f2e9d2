"""articles.py: the blog's articles read without a build, in any process."""

from __future__ import annotations

from pathlib import Path

from pelican.generators import ArticlesGenerator
from sitebuilder import build_site
from test_intake_support import approved, make_settings

from replik.articles import ArticleIndex, read_content


def test_reading_the_articles_after_a_build_in_the_process_leaves_the_store_alone(
        tmp_path: Path) -> None:
    # A build in this process registers the plugin's signal receivers (the desk's
    # full rebuild does so in a server); the article index that a server reads
    # again whenever content/ changes must not attach every thread (reading the
    # whole store) then.
    settings = make_settings(tmp_path)
    approved(Path(settings.store), "offene-debatte", body="Schon da.")
    build_site(settings)
    (generator,) = read_content(settings, ArticlesGenerator)
    article = next(a for a in generator.articles if a.slug == "offene-debatte")
    assert not hasattr(article, "replik_thread")
    assert ArticleIndex(settings).articles["offene-debatte"].open
