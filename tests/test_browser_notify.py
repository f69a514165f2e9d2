"""Reply notifications end to end: a reader in Chromium ticks the box, confirms by mail,
a moderator answers in the desk, exactly one mail arrives (real SMTP on loopback), the
reader unsubscribes with one click, and the next answer sends nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from test_desk_browser import Page
from test_desk_site import PROJECT_THEME, Served, add_entry, hash_env
from test_notify import smtp  # noqa: F401 - the fixture

from replik import notify, reader_mail, tokens
from replik.state import open_state

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp):  # noqa: F811
    hash_env(monkeypatch)
    for name in ("PYTHON_AKISMET_API_KEY", "PYTHON_AKISMET_BLOG_URL"):
        monkeypatch.delenv(name, raising=False)
    served = Served(tmp_path / "site", posts=3, theme=PROJECT_THEME, REPLIK_NOTIFY_BATCH_MINUTES=0)
    served.wait_built()
    yield served
    served.close()
    reader_mail.stop_workers()


def _plain(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_box_confirm_answer_mail_unsubscribe(browser, site: Served, smtp) -> None:  # noqa: F811
    article = f"{site.url}/2026/post-2/"
    state = open_state(site.settings)

    # Without JavaScript: the box needs an address, the server says so on its page.
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(article)
    page.fill("#respond-author", "Erika Muster")
    page.fill("#respond-body", "Ohne Adresse.")
    page.check("#respond-notify")
    page.check("#respond-consent")
    page.click("#respond button[type=submit]")
    assert "E-Mail-Adresse an, um über Antworten" in page.inner_text("#respond-email-error")
    assert page.is_checked("#respond-notify")
    page.context.close()

    # With JavaScript: tick the box, send, read the confirmation mail, confirm.
    page = browser.new_context().new_page()
    page.set_default_timeout(15000)
    page.goto(article)
    assert page.inner_text("label[for=respond-notify]") == (
        "Benachrichtigen Sie mich per E-Mail über Antworten")
    assert not page.is_checked("#respond-notify")
    assert page.is_checked("input[name=notify_scope][value=replies]")
    page.fill("#respond-author", "Erika Muster")
    page.fill("#respond-email", "erika@example.org")
    page.fill("#respond-body", "Wann kommt die Fortsetzung?")
    page.check("#respond-notify")
    page.check("#respond-consent")
    page.click("#respond button[type=submit]")
    page.wait_for_selector(".form-status-success")
    assert "bitte bestätigen" in page.inner_text(".form-status").lower()
    [(to, confirmation)] = smtp.wait(1)
    assert to == ["erika@example.org"]
    link = re.search(r"http\S+/replik/subscribe/confirm/\S+", _plain(confirmation)).group(0)
    page.goto(link)
    [sub] = state.subscriptions.listing()
    assert sub.confirmed is None  # opening the link confirms nothing
    page.click("main form button[type=submit]")
    page.wait_for_selector("text=Bestätigt.")
    assert state.subscriptions.get(sub.id).confirmed is not None
    comment = next(iter(site.store.entries("pending")))

    # The moderator answers in the desk: the comment is approved with the answer.
    desk = Page(browser, site)
    desk.login()
    desk.page.goto(f"{site.url}/moderate/entry/{comment.id}")
    assert "1 für diesen Eintrag" in desk.page.inner_text("#subscribers")
    desk.page.fill("#reply-body", "Nächste Woche, versprochen.")
    desk.page.click("#reply button[type=submit]")
    [_, (to, mail)] = smtp.wait(2)
    answer = next(e for e in site.store.entries("approved") if e.staff)
    assert to == ["erika@example.org"]
    assert mail["To"] == "Erika Muster <erika@example.org>"
    assert mail["Subject"] == (
        "[Testblog] Redaktion hat auf „Beitrag 2“ geantwortet")  # the team's name
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["In-Reply-To"] and mail["Message-ID"]
    text = _plain(mail)
    assert "Nächste Woche, versprochen." in text
    assert f"{article}#comment-{answer.id}" in text
    assert reader_mail.deliver(site.settings)["sent"] == 0
    assert len(smtp.messages) == 2  # exactly one notification

    # One click in the mail program: a POST without Origin or CSRF token.
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    done = httpx.post(unsubscribe, content=b"List-Unsubscribe=One-Click", timeout=10,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200
    assert state.subscriptions.listing() == []

    # The next answer reaches nobody.
    desk.page.goto(f"{site.url}/moderate/entry/{comment.id}")
    desk.page.fill("#reply-body", "Und noch ein Nachtrag.")
    desk.page.click("#reply button[type=submit]")
    desk.page.wait_for_selector("text=Ihre Antwort ist veröffentlicht")
    assert state.outbox.listing("queued") == []
    assert reader_mail.deliver(site.settings)["sent"] == 0
    assert len(smtp.messages) == 2


def test_follow_form_and_mailed_approve_link_work_in_the_browser(
        browser, site: Served, smtp) -> None:  # noqa: F811
    """A link page's referrer policy decides the Origin of its own form's POST: with
    no-referrer Chromium sends "Origin: null", which the origin check refused (403)."""
    page = browser.new_context().new_page()
    page.set_default_timeout(15000)
    page.goto(f"{site.url}/replik/subscribe?article=post-1")
    page.fill("input[name=email]", "folgt@example.org")
    page.check("input[name=consent]")
    with page.expect_navigation() as sent:
        page.click("main form button[type=submit]")
    assert sent.value.status == 202  # a mail asks to confirm
    [(to, _)] = smtp.wait(1)
    assert to == ["folgt@example.org"]

    entry = add_entry(site.store, "post-1", when=datetime.now(UTC))
    link = notify.action_url(site.settings, tokens.make_action(site.settings, "approve", entry.id))
    page.goto(link)
    with page.expect_navigation() as done:
        page.click("main form button[type=submit]")
    assert done.value.status == 200
    assert site.store.get(entry.id).state == "approved"
