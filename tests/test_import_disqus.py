"""`replik import disqus`: Isso's Disqus fixture, and broken files of our own."""

from __future__ import annotations

from pathlib import Path

from test_import_wordpress import FIXTURES, fixture, make_project, run_cli, snapshot

from replik.store import Store

DISQUS = FIXTURES / "isso-disqus.xml"

ARTICLE = """Title: {title}
Date: {date}
Slug: {slug}

Text.
"""


def blog(tmp_path: Path) -> Path:
    conf = make_project(tmp_path / "blog")
    content = conf.parent / "content"
    (content / "hello.md").write_text(
        ARTICLE.format(title="Hello", date="2012-12-12 12:00+01:00", slug="hello-world"))
    # The fixture's second thread lives at /blog/2013/02/12/redacted/index.html.
    (content / "redacted.md").write_text(
        ARTICLE.format(title="Redacted", date="2013-02-12 16:00+01:00", slug="redacted"))
    return conf


def entries(conf: Path) -> dict[str, object]:
    return {e.extra["Disqus-Post-Id"]: e for e in Store(conf.parent / "comments").all_entries()}


def test_fixture_threads_replies_deleted_and_orphans(tmp_path):
    conf = blog(tmp_path)
    result = run_cli(conf, "import", "disqus", str(fixture(DISQUS)),
                     "--map", "http://example.org/=hello-world")
    got = entries(conf)
    assert set(got) == {"4", "5", "8", "9", "11"}
    assert {k: e.state for k, e in got.items()} == {
        "4": "approved", "5": "approved", "8": "approved", "9": "trash", "11": "approved"}
    assert got["5"].reply_to == got["4"].id and got["11"].reply_to == got["9"].id
    assert got["8"].article == "redacted"  # matched by the last part of its URL
    assert got["4"].article == "hello-world"
    assert got["5"].body == "Hello, World." and got["8"].author == "Empty"
    assert got["4"].email == "foo@bar.com" and got["4"].ip == "127.0.0.1"
    assert got["4"].date.isoformat() == "2013-10-10T19:20:29+00:00"
    assert "1 × post of a thread that is not in the export" in result.output
    # Importing again changes nothing.
    before = snapshot(conf.parent / "comments")
    again = run_cli(conf, "import", "disqus", str(DISQUS), "--map",
                    "http://example.org/=hello-world")
    assert "0 new, 5 already in the store" in again.output
    assert snapshot(conf.parent / "comments") == before


def test_threads_that_match_no_article_are_reported(tmp_path):
    conf = blog(tmp_path)
    result = run_cli(conf, "import", "disqus", str(fixture(DISQUS)))
    assert "thread 'http://example.org/' (line 13, 4 posts) matches no article" in result.output
    assert "4 × post of a thread that matches no article" in result.output
    assert set(entries(conf)) == {"8"}


def _broken(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    text = fixture(DISQUS).read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    line = text[: text.index(new)].count("\n") + 1
    path = tmp_path / "broken.xml"
    path.write_text(text, encoding="utf-8")
    return path, line


def _fails(tmp_path: Path, path: Path, *expected: str) -> None:
    conf = blog(tmp_path)
    result = run_cli(conf, "import", "disqus", str(path), "--map",
                     "http://example.org/=hello-world", ok=False)
    assert result.exit_code == 1, result.output
    for text in expected:
        assert text in result.output, result.output
    assert "nothing was imported" in result.output and "Traceback" not in result.output
    assert not (conf.parent / "comments").exists() or not entries(conf)


def test_a_post_without_id(tmp_path):
    path, line = _broken(tmp_path, '<post dsq:id="5">', "<post>")
    _fails(tmp_path, path, f"line {line}: <post> without a dsq:id attribute")


def test_a_bad_date(tmp_path):
    path, line = _broken(tmp_path, "<createdAt>2013-10-11T06:51:33Z</createdAt>",
                         "<createdAt>gestern</createdAt>")
    _fails(tmp_path, path, f"line {line - 2}: post 5 has a malformed createdAt 'gestern'")


def test_invalid_xml(tmp_path):
    path, line = _broken(tmp_path, "<isSpam>false</isSpam>", "<isSpam>false</isSpan>")
    _fails(tmp_path, path, f"line {line}", "not well-formed XML")


def test_not_a_disqus_file(tmp_path):
    path = tmp_path / "other.xml"
    path.write_text("<?xml version='1.0'?>\n<rss><channel/></rss>\n")
    _fails(tmp_path, path, "not a Disqus export")


def test_spam_posts_go_to_spam(tmp_path):
    path, _line = _broken(tmp_path, "<isSpam>false</isSpam>", "<isSpam>true</isSpam>")
    conf = blog(tmp_path)
    run_cli(conf, "import", "disqus", str(path), "--map", "http://example.org/=hello-world")
    spam = entries(conf)["4"]
    assert spam.state == "spam" and spam.spam_verdict == "spam"


def test_entities_declared_in_the_file_are_refused(tmp_path):
    path, _line = _broken(tmp_path, '<?xml version="1.0"?>',
                          '<?xml version="1.0"?>\n<!DOCTYPE disqus [<!ENTITY x "y">]>')
    _fails(tmp_path, path, "declares a DTD")
