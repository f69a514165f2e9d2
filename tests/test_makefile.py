"""The Makefile's local workflow on a copy of the project: the address `make serve` was
given is the one later builds use, and `make devserver` rebuilds when content changes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from liveserver import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("content", "theme", "comments", "data"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, tmp_path / name)
    for name in ("pelicanconf.py", "Makefile"):
        shutil.copy(ROOT / name, tmp_path)
    shutil.copy2(ROOT / "pyproject.toml", tmp_path)
    # A stamp newer than the copy's pyproject.toml: make uses the venv as it is and never
    # reinstalls into it from a test.
    (tmp_path / ".installed").touch()
    return tmp_path


def make(project: Path, *args: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return ["make", "--no-print-directory", "-C", str(project), f"VENV={VENV}",
            f"STAMP={project / '.installed'}", *args]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("REPLIK_", "PYTHON_AKISMET_", "MAKE"))}


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def started() -> Iterator[Callable[..., subprocess.Popen]]:
    processes: list[subprocess.Popen] = []

    def start(command: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(command, env=clean_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        processes.append(process)
        return process

    yield start
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def site_urls(index: Path) -> set[str]:
    return set(re.findall(r"http://127\.0\.0\.1:\d+", index.read_text(encoding="utf-8")))


def test_html_after_serve_builds_for_the_served_port(project: Path, started) -> None:
    port = free_port()
    started(make(project, "serve", f"PORT={port}"))
    wait_for(lambda: answers(f"http://127.0.0.1:{port}/"), "make serve", timeout=120)
    subprocess.run(make(project, "html"), env=clean_env(), check=True, capture_output=True)
    assert site_urls(project / "output" / "index.html") == {f"http://127.0.0.1:{port}"}
    # Said on the command line, another address wins (and is not remembered by html).
    subprocess.run(make(project, "html", "PORT=8123"), env=clean_env(), check=True,
                   capture_output=True)
    assert site_urls(project / "output" / "index.html") == {"http://127.0.0.1:8123"}
    assert f"PORT ?= {port}" in (project / ".serve.mk").read_text()


def test_devserver_rebuilds_when_content_changes(project: Path, started) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started(make(project, "devserver", f"PORT={port}"))
    wait_for(lambda: answers(base + "/"), "make devserver", timeout=120)
    (project / "content" / "neu-im-devserver.md").write_text(
        "Title: Neu im Devserver\nDate: 2026-11-30 10:00\nSlug: neu-im-devserver\n"
        "Category: Kundendialog\n\nFrisch geschrieben.\n", encoding="utf-8")
    wait_for(lambda: answers(base + "/2026/neu-im-devserver/"), "the rebuilt post", timeout=120)
    page = httpx.get(base + "/2026/neu-im-devserver/", timeout=5)
    assert "Frisch geschrieben." in page.text
    assert f'action="{base}/replik/comment"' in page.text


@pytest.mark.parametrize(("target", "upload"), [("rsync_upload", "rsync "),
                                                ("s3_upload", "aws s3 sync")])
def test_uploads_send_linkbacks_only_once_the_site_is_online(project: Path, target: str,
                                                             upload: str) -> None:
    # A dry run (make -n) lists the recipe in order without running it.
    lines = subprocess.run(make(project, "-n", target), env=clean_env(), check=True,
                           capture_output=True, text=True).stdout.splitlines()
    build = next(i for i, line in enumerate(lines) if "pelican" in line)
    copy = next(i for i, line in enumerate(lines) if line.lstrip().startswith(upload))
    send = next(i for i, line in enumerate(lines) if "linkbacks send" in line)
    assert "REPLIK_SEND_LINKBACKS=no" in lines[build] and "publishconf.py" in lines[build]
    assert build < copy < send


def test_test_fast_leaves_out_browser_and_slow_tests(tmp_path: Path) -> None:
    """`make test-fast` deselects by mark, and a test that asks for Chromium (the
    ``browser`` fixture) counts as a browser test even without the mark."""
    lines = subprocess.run(make(ROOT, "-n", "test-fast"),
                           env=clean_env(), check=True, capture_output=True,
                           text=True).stdout.splitlines()
    [command] = [line for line in lines if "pytest" in line]
    marks = re.search(r'-m "([^"]+)"', command)
    assert marks and marks.group(1) == "not browser and not slow"
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path)
    (tmp_path / "test_kinds.py").write_text(
        "import pytest\n\n"
        "def test_uses_chromium(browser):\n    pass\n\n"
        "@pytest.mark.slow\ndef test_takes_long():\n    pass\n\n"
        "def test_quick():\n    pass\n", encoding="utf-8")
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", marks.group(1), str(tmp_path / "test_kinds.py")],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True)
    assert "test_kinds.py::test_quick" in collected.stdout, collected.stdout + collected.stderr
    assert "test_uses_chromium" not in collected.stdout
    assert "test_takes_long" not in collected.stdout
