"""`replik import wordpress` at scale: a generated export of thousands of comments
(benchmarks/wxr.py) imports completely, a second import changes nothing, a file
broken near its end imports nothing, an import killed in the middle is finished by
running it again, and the progress goes to standard error, never into the summary."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from replik.cli import main
from replik.cli.io import ImportProgress
from replik.store import Store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not in the package
from benchmarks import wxr  # noqa: E402
from tests.test_import_wordpress import make_project  # noqa: E402

POSTS, COMMENTS = 60, 50  # 3,000 comments, about 4.5 MB


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> wxr.Generated:
    return wxr.generate(tmp_path_factory.mktemp("wxr") / "export.xml", POSTS, COMMENTS, seed=3)


def run_cli(conf: Path, *args: str):
    return CliRunner().invoke(main, ["--settings", str(conf), *args], catch_exceptions=False)


def files(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder`` (but tmp/ and the audit log): inode and bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and "tmp" not in relative.parts and path.name != "audit.log":
            found[str(relative)] = (path.stat().st_ino, path.read_bytes())
    return found


def without_inodes(snapshot: dict[str, tuple[int, bytes]]) -> dict[str, bytes]:
    return {name: data for name, (_ino, data) in snapshot.items()}


def test_the_generated_export_is_deterministic_and_realistic(export, tmp_path):
    again = wxr.generate(tmp_path / "again.xml", POSTS, COMMENTS, seed=3)
    assert again.path.read_bytes() == export.path.read_bytes()
    text = export.path.read_text(encoding="utf-8")
    assert export.comments == text.count("<wp:comment>") == POSTS * COMMENTS
    assert export.replies > 500 and export.pingbacks > 50 and export.trackbacks > 20
    assert "<wp:commentmeta>" in text and '<a href="' in text and "<blockquote>" in text
    assert "[caption" in text and "<table" in text and "[&#8230;]" in text
    for approved in ("1", "0", "spam", "trash"):
        assert f"<wp:comment_approved><![CDATA[{approved}]]>" in text


def test_thousands_of_comments_imported_twice_give_the_same_files(export, tmp_path):
    conf = make_project(tmp_path / "blog")
    blog = conf.parent
    first = run_cli(conf, "import", "wordpress", str(export.path))
    assert first.exit_code == 0, first.output
    assert f"comments: {export.comments} read, {export.comments} new, 0 already" in first.stdout
    store = Store(blog / "comments")
    entries = list(store.all_entries(on_error="raise"))
    assert len(entries) == export.comments
    by_id = {e.id: e for e in entries}
    replies = [e for e in entries if e.reply_to]
    assert len(replies) == export.replies
    assert all(by_id[e.reply_to].article == e.article for e in replies)
    assert sum(e.type == "pingback" for e in entries) == export.pingbacks
    assert sum(e.type == "trackback" for e in entries) == export.trackbacks
    assert {e.state for e in entries} == {"approved", "pending", "spam", "trash"}
    assert any(e.staff for e in entries)
    assert any("](https://" in e.body for e in entries)  # links became Markdown
    before = files(blog / "comments") | files(blog / "content")
    assert len(before) > export.comments + POSTS

    second = run_cli(conf, "import", "wordpress", str(export.path))
    assert second.exit_code == 0, second.output
    assert (f"comments: {export.comments} read, 0 new, {export.comments} already in the store"
            in second.stdout)
    # Not a file written again: the same inodes with the same bytes.
    assert files(blog / "comments") | files(blog / "content") == before
    assert list((blog / "comments" / "tmp").iterdir()) == []


def _broken(export: wxr.Generated, tmp_path: Path, edit) -> Path:
    target = tmp_path / "broken.xml"
    target.write_text(edit(export.path.read_text(encoding="utf-8")), encoding="utf-8")
    return target


@pytest.mark.parametrize("how", ["bad XML", "bad value", "cut short"])
def test_a_file_broken_near_its_end_imports_nothing(export, tmp_path, how):
    def edit(text: str) -> str:
        at = text.rindex("<wp:comment_approved>")  # the last comment of the last post
        if how == "bad XML":
            return text[:at] + "<wp:comment_approved>1</wp:comment_aproved>" + text[at + 21:]
        if how == "bad value":
            end = text.index("</wp:comment_approved>", at)
            return text[:at] + "<wp:comment_approved>maybe" + text[end:]
        return text[: len(text) - 200]

    conf = make_project(tmp_path / "blog")
    blog = conf.parent
    broken = _broken(export, tmp_path, edit)
    result = run_cli(conf, "import", "wordpress", str(broken))
    assert result.exit_code == 1
    assert "nothing was imported" in result.output and "Traceback" not in result.output
    line = int(re.search(r"broken\.xml, line (\d+):", result.output).group(1))
    assert line > len(broken.read_text(encoding="utf-8").split("\n")) - 40
    assert not list((blog / "content").iterdir())
    assert not (blog / "comments").exists() or Store(blog / "comments").ids() == set()
    cache = blog / ".replik-cache"
    assert not cache.exists() or not list(cache.glob("replik-import-*"))


CRASH = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {plugins!r})
    from replik.importers import common
    from replik.importers.wordpress import import_wordpress
    from replik.settings import Settings
    from replik.store import Store

    common.BATCH = 500
    links = 0
    real_link = os.link

    def link(*args, **kwargs):
        global links
        if links == 1200:  # in the third batch: two are in, the third half-linked
            os.kill(os.getpid(), signal.SIGKILL)
        real_link(*args, **kwargs)
        links += 1

    os.link = link
    blog = Path(sys.argv[2])
    import_wordpress(Path(sys.argv[1]), Store(blog / "comments"), blog / "content",
                     Settings(timezone="Europe/Berlin"), staging_parent=blog / ".replik-cache")
""")


def test_an_import_killed_while_writing_is_finished_by_running_it_again(export, tmp_path):
    clean = make_project(tmp_path / "clean")
    assert run_cli(clean, "import", "wordpress", str(export.path)).exit_code == 0

    conf = make_project(tmp_path / "blog")
    blog = conf.parent
    script = tmp_path / "crash.py"
    script.write_text(CRASH.format(plugins=str(ROOT / "plugins")))
    result = subprocess.run([sys.executable, str(script), str(export.path), str(blog)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == -9, result.stderr[-2000:]
    # What is in the store is whole: every file reads, and it is part of the import.
    store = Store(blog / "comments")
    half = list(store.all_entries(on_error="raise"))
    assert len(half) == 1200
    clean_entries = without_inodes(files(clean.parent / "comments"))
    for name, data in without_inodes(files(blog / "comments")).items():
        assert clean_entries[name] == data

    # The staging area of the killed import is left; a later import removes such
    # folders once they are old (they hold e-mail and IP addresses).
    cache = blog / ".replik-cache"
    (left,) = cache.glob("replik-import-*")
    recent = cache / "replik-import-recent"
    recent.mkdir()
    old = time.time() - 2 * 86400
    os.utime(left, (old, old))

    again = run_cli(conf, "import", "wordpress", str(export.path))
    assert again.exit_code == 0, again.output
    assert list(cache.glob("replik-import-*")) == [recent]
    assert f"{export.comments - 1200} new, 1200 already in the store" in again.stdout
    assert without_inodes(files(blog / "comments")) == clean_entries
    assert without_inodes(files(blog / "content")) == without_inodes(
        files(clean.parent / "content"))


def test_the_import_never_looks_entries_up_one_by_one(export, tmp_path, monkeypatch):
    # Store.find scans every article's folder: once per comment, that made an
    # import of 100,000 comments into 6,000 posts take hours.
    def refuse(*_args, **_kwargs):
        raise AssertionError("an import must not look entries up one by one")

    monkeypatch.setattr(Store, "find", refuse)
    monkeypatch.setattr(Store, "all_entries", refuse)
    conf = make_project(tmp_path / "blog")
    for _ in range(2):
        result = run_cli(conf, "import", "wordpress", str(export.path))
        assert result.exit_code == 0, result.output


# -- progress ---------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_on_a_terminal_is_a_bar_with_count_and_rate():
    screen, clock = Terminal(), Clock()
    with ImportProgress(screen, clock=clock) as progress:
        progress("read", 0, 1000, 0)
        clock.now += 2
        progress("read", 500, 1000, 4000)
        clock.now += 2
        progress("read", 1000, 1000, 8000)
        progress("write", 0, 8000, 0)
        clock.now += 4
        progress("write", 8000, 8000, 8000)
    shown = screen.getvalue()
    assert "Reading the export" in shown and "Writing into the store" in shown
    assert "50%" in shown and "100%" in shown
    assert "4,000 comments, 2,000/s" in shown and "8,000 comments, 2,000/s" in shown
    assert "\r" in shown  # one line, redrawn


def test_progress_elsewhere_is_a_plain_line_every_ten_seconds():
    log, clock = io.StringIO(), Clock()
    with ImportProgress(log, clock=clock) as progress:
        progress("read", 0, 1000, 0)
        clock.now += 5
        progress("read", 300, 1000, 1500)
        assert log.getvalue() == ""  # nothing for an import that takes a few seconds
        clock.now += 7
        progress("read", 600, 1000, 3000)
        clock.now += 1
        progress("read", 1000, 1000, 4000)
        progress("write", 0, 4000, 0)
        clock.now += 10
        progress("write", 2000, 4000, 2000)
    assert log.getvalue().splitlines() == [
        "Reading the export: 60 % (3,000 comments, 250/s)",
        "Writing into the store: 50 % (2,000 comments, 200/s)",
    ]


def test_the_bar_goes_to_the_terminal_and_the_summary_to_standard_output(export, tmp_path):
    conf = make_project(tmp_path / "blog")
    replik = Path(sys.executable).with_name("replik")
    terminal, other_end = os.openpty()
    process = subprocess.Popen(
        [str(replik), "--settings", str(conf), "import", "wordpress", str(export.path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=other_end, cwd=conf.parent)
    os.close(other_end)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # EIO: the import has closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    stdout = process.stdout.read().decode()
    assert process.wait(timeout=600) == 0, shown.decode()[-2000:]
    bar = shown.decode()
    assert "Reading the export" in bar and "Writing into the store" in bar
    assert f"{export.comments:,} comments" in bar and "/s" in bar and "100%" in bar
    assert stdout.startswith("Imported from ")
    assert f"{export.comments} read, {export.comments} new" in stdout
    assert "Reading the export" not in stdout and "\r" not in stdout
