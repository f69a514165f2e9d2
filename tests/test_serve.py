"""`make serve`'s server on a copy of the project: site, comment form, desk login."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from liveserver import free_port, live_server
from lxml import html as lxml_html

from replik.server.app import create_app
from replik.settings import load_settings
from replik.store import Store

ROOT = Path(__file__).resolve().parents[1]
REPLIK = Path(sys.executable).with_name("replik")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    for name in ("content", "theme", "comments", "data"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, root / name)
    shutil.copy(ROOT / "pelicanconf.py", root)
    subprocess.run([sys.executable, "-m", "pelican", "-s", "pelicanconf.py"], cwd=root,
                   check=True, capture_output=True)
    return root


@pytest.fixture
def served(project):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REPLIK_", "PYTHON_AKISMET_"))}
    # The sample pelicanconf.py points SITEURL at port 8000; the test's port differs.
    process = subprocess.Popen(
        [str(REPLIK), "serve", "--port", str(port)], cwd=project, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Moderation desk" in line:
                break
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(base + "/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, "".join(lines), project
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serves_the_site_and_says_what_protects_it(served):
    base, banner, _ = served
    assert "Akismet: off" in banner and "honeypot" in banner
    home = httpx.get(base + "/")
    assert home.status_code == 200 and "Dialogfeld" in home.text
    assert httpx.get(base + "/gibt-es-nicht/").status_code == 404


def assert_site_404(answer: httpx.Response) -> None:
    """The theme's "not found" page, in the site's language, in the site's frame."""
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    doc = lxml_html.fromstring(answer.content)
    assert doc.get("lang") == "de"
    assert doc.findtext(".//h1").strip() == "Seite nicht gefunden"
    assert doc.xpath("//meta[@name='robots']/@content") == ["noindex"]
    assert doc.find_class("site-title")[0].text_content() == "Dialogfeld"
    assert "Not Found" not in answer.text  # not Werkzeug's page


def test_unknown_addresses_get_the_sites_404_page(served):
    base, _, project = served
    built = (project / "output" / "404.html").read_text(encoding="utf-8")
    static = httpx.get(base + "/gibt-es-nicht/")
    assert_site_404(static)
    assert static.text == built  # what nginx's error_page shows
    # The app's own addresses answer a browser with the same page ...
    for path in ("/replik/gibt-es-nicht", "/moderate/gibt-es-nicht"):
        answer = httpx.get(base + path, headers={"Accept": "text/html"})
        assert_site_404(answer)
    # ... and a script with JSON.
    answer = httpx.get(base + "/replik/gibt-es-nicht", headers={"Accept": "application/json"})
    assert answer.status_code == 404 and answer.json()["ok"] is False


def test_without_a_built_site_the_theme_renders_the_404_page(tmp_path):
    """Before the first build the app renders the theme's 404.html itself."""
    settings = load_settings(ROOT / "pelicanconf.py", override={
        "OUTPUT_PATH": str(tmp_path / "output"), "REPLIK_STORE": str(tmp_path / "comments"),
        "REPLIK_REBUILD": False, "PATH": str(ROOT / "content"), "THEME": str(ROOT / "theme")})
    with live_server(create_app(settings=settings)) as (base, _holder):
        assert_site_404(httpx.get(base + "/replik/gibt-es-nicht"))


def test_a_comment_posted_to_the_local_server_lands_in_pending(served):
    base, _, project = served
    slug = "antworten-bevor-es-weh-tut"
    answer = httpx.post(base + "/replik/comment", data={
        "article": slug, "author": "Lokal", "email": "lokal@example.org",
        "body": "Ein Kommentar über make serve.", "consent": "yes", "homepage": ""},
        headers={"Origin": base})
    assert answer.status_code == 303, answer.text[:500]
    pending = [e for e in Store(project / "comments").entries("pending")
               if e.body == "Ein Kommentar über make serve."]
    assert len(pending) == 1


def test_a_local_moderator_is_made_for_the_run(served):
    base, banner, _ = served
    match = re.search(r"log in as 'redaktion' with password (\S+)", banner)
    assert match, banner
    client = httpx.Client(base_url=base, follow_redirects=True, timeout=20)
    page = client.get("/moderate/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = client.post("/moderate/login", data={
        "csrf": token, "name": "redaktion", "password": match.group(1), "next": "/moderate/"})
    assert answer.status_code == 200
    assert 'name="password"' not in answer.text  # past the login form: the desk
    assert "/moderate/logout" in answer.text
    wrong = httpx.Client(base_url=base, timeout=20)
    token = re.search(r'name="csrf" value="([^"]+)"', wrong.get("/moderate/login").text).group(1)
    refused = wrong.post("/moderate/login", data={
        "csrf": token, "name": "redaktion", "password": "falsch"})
    assert refused.status_code == 401
