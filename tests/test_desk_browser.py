"""The desk in a real browser (Playwright + Debian Chromium)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_desk_site import PASSWORD, PROJECT_THEME, Served, add_entry, hash_env
from test_report import populate

from replik import tokens

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hash_env(monkeypatch)
    for name in ("PYTHON_AKISMET_API_KEY", "PYTHON_AKISMET_BLOG_URL"):
        monkeypatch.delenv(name, raising=False)
    served = Served(tmp_path / "site", posts=4)
    served.wait_built()
    yield served
    served.close()


class Page:
    """A browser page that records every dialog (alert/confirm/prompt) that opens."""

    def __init__(self, browser, desk: Served) -> None:
        self.desk = desk
        self.dialogs: list[str] = []
        self.page = browser.new_page()
        self.page.set_default_timeout(15000)
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def login(self) -> None:
        self.page.goto(f"{self.desk.url}/moderate/queue")
        self.page.fill("input[name=name]", "anna")
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("form.login button[type=submit]")
        self.page.wait_for_url(re.compile(r"/moderate/queue"))

    def wait_live(self) -> None:
        self.page.wait_for_selector("#live[data-state=live]")


def when(minutes: int) -> datetime:
    return datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes)


def test_queue_filter_approve_live_and_on_the_page(browser, desk: Served) -> None:
    comment = add_entry(desk.store, "post-2", when=when(1), author="Gisela", body="Gut **so**")
    mention = add_entry(desk.store, "post-3", when=when(2), author="Blog", type="webmention",
                        source="https://blog.example/a", body="Verlinkt")
    ui = Page(browser, desk)
    ui.login()
    assert ui.page.locator("li.entry").count() == 2
    ui.page.select_option("select[name=type]", "comment")
    ui.page.click("form.filters button[type=submit]")
    # click() returns once the filtered page starts loading; count() does not wait.
    ui.page.wait_for_load_state()
    assert ui.page.locator("li.entry").count() == 1
    assert ui.page.locator(f"#e-{mention.id}").count() == 0
    ui.page.locator(f"#e-{comment.id} button[value=approve]").click()
    ui.wait_live()
    assert desk.store.get(comment.id).state == "approved"
    assert "Live" in ui.page.inner_text("#live")
    ui.page.click("#live-link")  # the desk links to the entry on its page
    ui.page.wait_for_url(re.compile(rf"/2026/post-2/#comment-{comment.id}"))
    assert ui.page.locator(f"#comment-{comment.id} .body strong").inner_text() == "so"
    ui.page.goto(f"{desk.url}/moderate/entry/{comment.id}")
    ui.page.click("#page-link")
    ui.page.wait_for_url(re.compile(r"/2026/post-2/#comment-"))
    assert ui.page.locator(f"#comment-{comment.id} .body strong").inner_text() == "so"
    assert ui.dialogs == []


def test_spam_bulk_approve_and_staff_reply(browser, desk: Served) -> None:
    first = add_entry(desk.store, "post-1", when=when(1), author="Hans")
    second = add_entry(desk.store, "post-1", when=when(2), author="Ida")
    junk = add_entry(desk.store, "post-1", when=when(3), author="Cheap pills",
                     body="buy http://spam.example")
    ui = Page(browser, desk)
    ui.login()
    ui.page.locator(f"#e-{junk.id} button[value=spam]").click()
    ui.page.wait_for_selector(".flash.ok")
    assert desk.store.get(junk.id).state == "spam"
    ui.page.check(f"#e-{first.id} input[name=ids]")
    ui.page.check(f"#e-{second.id} input[name=ids]")
    ui.page.click("#bulk button[value=approve]")
    ui.page.wait_for_selector(".flash.ok")
    assert {desk.store.get(e.id).state for e in (first, second)} == {"approved"}
    ui.page.goto(f"{desk.url}/moderate/entry/{first.id}")
    ui.page.fill("#reply-body", "Danke, Hans!")
    ui.page.click("#reply button[type=submit]")
    ui.page.wait_for_selector(".flash.ok")
    ui.wait_live()
    reply = next(e for e in desk.store.entries("approved", "post-1") if e.staff)
    assert reply.reply_to == first.id and reply.body == "Danke, Hans!"
    ui.page.goto(f"{desk.url}/2026/post-1/")
    staff = ui.page.locator(f"#comment-{first.id} li.staff")
    assert "Danke, Hans!" in staff.inner_text() and "(Team)" in staff.inner_text()


def test_keyboard_shortcuts_and_help(browser, desk: Served) -> None:
    older = add_entry(desk.store, "post-1", when=when(1), author="Jana")
    newer = add_entry(desk.store, "post-1", when=when(2), author="Kai")
    ui = Page(browser, desk)
    ui.login()
    assert ui.page.locator("#help").is_hidden()
    ui.page.keyboard.press("?")
    assert ui.page.locator("#help").is_visible()
    ui.page.keyboard.press("Escape")
    assert ui.page.locator("#help").is_hidden()
    ui.page.keyboard.press("j")  # the newest entry
    ui.page.keyboard.press("a")
    ui.page.wait_for_selector(".flash.ok")
    # The flash is in the DOM before desk.js has run: keys pressed earlier are lost.
    ui.page.wait_for_load_state()
    assert desk.store.get(newer.id).state == "approved"
    ui.page.keyboard.press("j")
    # The page still shows the last action's message: wait for the new page instead.
    with ui.page.expect_navigation():
        ui.page.keyboard.press("d")
    ui.page.wait_for_selector(".flash.ok")
    assert desk.store.get(older.id).state == "trash"
    third = add_entry(desk.store, "post-1", when=when(3), author="Lea")
    ui.page.goto(f"{desk.url}/moderate/queue")
    ui.page.keyboard.press("j")
    ui.page.keyboard.press("r")
    ui.page.wait_for_url(re.compile(rf"/moderate/entry/{third.id}#reply-body"))
    ui.page.wait_for_load_state()
    ui.page.keyboard.type("Hallo Lea")  # the reply box has the focus
    assert ui.page.input_value("#reply-body") == "Hallo Lea"
    ui.page.click("#reply button[type=submit]")
    ui.page.wait_for_selector(".flash.ok")
    assert desk.store.get(third.id).state == "approved"


def test_mail_link_lands_on_the_entry_with_one_click(browser, desk: Served) -> None:
    entry = add_entry(desk.store, "post-3", when=when(1), author="Max")
    token = tokens.make_action(desk.settings, "approve", entry.id)
    ui = Page(browser, desk)
    ui.login()
    ui.page.goto(f"{desk.url}/moderate/link/{token}")
    ui.page.wait_for_url(re.compile(rf"/moderate/entry/{entry.id}\?action=approve"))
    assert desk.store.get(entry.id).state == "pending"  # nothing happens on GET
    ui.page.click("#confirm button[type=submit]")
    ui.wait_live()
    assert desk.store.get(entry.id).state == "approved"
    ui.page.goto(f"{desk.url}/moderate/link/{token}")  # works once
    assert "used already" in ui.page.inner_text(".flash.error")


def test_report_page_shows_the_fixture(browser, desk: Served) -> None:
    ids = populate(desk.root)
    ui = Page(browser, desk)
    ui.login()
    ui.page.goto(f"{desk.url}/moderate/?since=2026-03-02&until=2026-03-16")
    figures = {key: ui.page.inner_text(f"#fig-{key}") for key in
               ("received", "approved", "spam", "trash", "decision", "share", "median", "p90")}
    assert figures == {"received": "8", "approved": "5", "spam": "1", "trash": "1",
                       "decision": "30 min", "share": "75 %", "median": "6,0 h",
                       "p90": "24,0 h"}  # numbers in the desk's language (German)
    svg = ui.page.locator("svg.chart")
    assert svg.locator("title").text_content() == "Answers per week"
    assert "67 %" in svg.inner_html() and "13,0 h" in svg.inner_html()
    assert ui.page.locator("#unanswered li").count() == 1
    waiting = ui.page.locator("#unanswered li a")  # the entry, then its article
    assert waiting.nth(1).inner_text() == "Beitrag 1"
    waiting.first.click()
    ui.page.wait_for_url(re.compile(rf"/moderate/entry/{ids['c3']}#reply-body"))


HOSTILE = {
    "author": '<script>window.pwned=1;alert("author")</script>',
    "url": "javascript:alert('url')",
    "email": '"><img src=x onerror=alert("email")>@example.org',
    "body": ('<script>window.pwned=1</script><img src=x onerror="alert(1)">\n\n'
             "[klick](javascript:alert('link')) <svg onload=alert(2)> "
             "<a href=\"javascript:alert(3)\" onclick=\"alert(4)\">a</a>"),
}


@pytest.fixture(params=["minimal", "project"])
def hostile_desk(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The hostile entry on the test theme and on the project's own theme."""
    if request.param == "project" and not (PROJECT_THEME / "templates" / "article.html").exists():
        pytest.skip("the project theme is not there")
    hash_env(monkeypatch)
    served = Served(tmp_path / "site", posts=2,
                    theme=PROJECT_THEME if request.param == "project" else None)
    served.wait_built()
    yield served
    served.close()


def test_hostile_entry_runs_nothing_in_desk_or_page(browser, hostile_desk: Served) -> None:
    desk = hostile_desk
    entry = add_entry(desk.store, "post-0", when=when(1), **HOSTILE)
    webmention = add_entry(desk.store, "post-0", when=when(2), type="webmention",
                           source="javascript:alert('source')",
                           title="<img src=x onerror=alert('title')>",
                           body="<script>alert('excerpt')</script>")
    ui = Page(browser, desk)
    ui.login()
    assert ui.page.locator(f"#e-{entry.id} .author").inner_text() == HOSTILE["author"]
    ui.page.goto(f"{desk.url}/moderate/entry/{entry.id}")
    assert ui.page.locator("article.current script, article.current img, "
                           "article.current svg, article.current [onclick]").count() == 0
    ui.page.locator("article.current button[value=approve]").click()
    ui.wait_live()
    ui.page.goto(f"{desk.url}/moderate/entry/{webmention.id}")
    ui.page.locator("article.current button[value=approve]").click()
    ui.wait_live()
    ui.page.goto(f"{desk.url}/2026/post-0/")
    shown = ui.page.locator(f"#comment-{entry.id}")
    assert "<script>" in shown.inner_text()  # shown as text
    for found in (entry, webmention):
        scope = f"#comment-{found.id}"
        assert ui.page.locator(", ".join(f"{scope} {bad}" for bad in (
            "script", "img", "svg", "[onclick]", "[onerror]", "[onload]",
            "a[href^='javascript']"))).count() == 0
    assert ui.page.evaluate("window.pwned") is None
    assert ui.dialogs == []
