"""A reader comments in a real browser (Playwright + Debian Chromium), with and without JS,
then a moderator approves with ``replik approve``, the site is rebuilt, the comment shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from liveserver import live_server
from sitebuilder import build_site
from test_intake_support import approved, write_conf

from replik.cli import main
from replik.cli.server import build_local_app
from replik.settings import load_settings
from replik.store import Store

pytestmark = pytest.mark.browser


@pytest.fixture
def blog(tmp_path, monkeypatch):
    for name in ("PYTHON_AKISMET_API_KEY", "PYTHON_AKISMET_BLOG_URL", "REPLIK_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    with live_server() as (base, holder):
        conf = write_conf(tmp_path, siteurl=base)
        settings = load_settings(conf)
        parent = approved(tmp_path / "comments", "offene-debatte", author="Stammleserin",
                          body="Der erste Kommentar.")
        build_site(settings)
        holder.app = build_local_app(settings)
        yield base, conf, settings, parent


def pending(site: Path):
    return list(Store(site / "comments").entries("pending"))


def test_reader_comments_and_moderator_approves(browser, blog, tmp_path):
    base, conf, settings, parent = blog
    article = f"{base}/2026/offene-debatte/"

    # Without JavaScript: a plain form POST and pages from the server.
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(article)
    page.fill("#respond-author", "Erika Muster")
    page.fill("#respond-email", "erika@example.org")
    page.fill("#respond-body", "Ohne JavaScript geschrieben.")
    page.check("#respond-consent")
    page.click("#respond button[type=submit]")
    page.wait_for_url(f"{base}/replik/thanks*")
    assert "Danke für Ihren Kommentar!" in page.inner_text("main")
    assert page.get_attribute("main a.button", "href") == article

    page.goto(article)
    page.fill("#respond-body", "Name vergessen, Text bleibt.")
    page.check("#respond-consent")
    page.evaluate("document.getElementById('respond').noValidate = true")
    page.click("#respond button[type=submit]")
    assert "Bitte ausfüllen: Name." in page.inner_text("#respond-author-error")
    assert page.input_value("#respond-body") == "Name vergessen, Text bleibt."
    page.context.close()

    # With JavaScript: inline preview, inline errors, reply under a comment.
    page = browser.new_context().new_page()
    page.goto(article)
    page.click(f"[data-reply-to='{parent.id}']")
    assert page.input_value("#respond input[name=reply_to]") == parent.id
    assert page.evaluate(
        f"document.getElementById('comment-{parent.id}').nextElementSibling.id") == "respond"
    page.fill("#respond-body", "Eine **Antwort** mit <script>alert(1)</script> Link "
                               "https://example.org")
    page.click(".comment-preview-button")
    page.wait_for_selector(".comment-preview strong")
    assert page.inner_text(".comment-preview strong") == "Antwort"
    assert page.locator(".comment-preview script").count() == 0
    assert page.get_attribute(".comment-preview .comment-body a", "rel") == "nofollow ugc"
    # The preview looks like the published comment above it: the same type.
    style = ("(e) => { const s = getComputedStyle(e);"
             " return [s.fontFamily, s.fontSize, s.lineHeight]; }")
    for part in (".comment-body", ".comment-body p", ".comment-by", ".comment-date"):
        published = page.eval_on_selector(f"#comment-{parent.id} {part}", style)
        assert page.eval_on_selector(f".comment-preview {part}", style) == published, part

    page.click("#respond button[type=submit]")  # name and consent missing
    page.wait_for_selector("#respond-author-error")
    assert page.inner_text("#respond-author-error") == "Bitte ausfüllen: Name."
    assert page.url == article  # no page change
    assert page.input_value("#respond-body").startswith("Eine **Antwort**")

    page.fill("#respond-author", "Max Leser")
    page.check("#respond-consent")
    page.click("#respond button[type=submit]")
    page.wait_for_selector(".form-status-success")
    assert "wartet auf Freigabe" in page.inner_text(".form-status")
    assert page.locator("#respond-author-error").count() == 0
    page.context.close()

    entries = {e.author: e for e in pending(tmp_path)}
    assert set(entries) == {"Erika Muster", "Max Leser"}
    reply = entries["Max Leser"]
    assert reply.reply_to == parent.id

    # The moderator approves from the command line, the site is rebuilt.
    result = CliRunner().invoke(main, ["--settings", str(conf), "approve",
                                       entries["Erika Muster"].id, reply.id])
    assert result.exit_code == 0, result.output
    build_site(settings)
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(article)
    text = page.inner_text("#comments")
    assert "Ohne JavaScript geschrieben." in text
    assert "Antwort" in page.inner_text(f"#comment-{reply.id}")
    assert page.locator(f"#comment-{reply.id} script").count() == 0
    page.context.close()
