"""The homepage in a real Chromium at desktop (1280) and phone (390) width: the
channel badges are on screen, uncovered, and keyboard focus on them is visible."""

from __future__ import annotations

import functools
import http.server
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_social_support import build_project

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("social-browser")
    (out / "output").mkdir()
    handler = functools.partial(QuietHandler, directory=str(out / "output"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    build_project(out, SITEURL=url, FEED_DOMAIN=url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def screenshot(page: Page, path: Path, **options: object) -> None:
    """page.screenshot, tried again when Chromium's compositor is not ready
    ("Unable to capture screenshot"), which a loaded machine sometimes gives once."""
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(3):
        try:
            page.screenshot(path=str(path), **options)
            return
        except PlaywrightError as exc:
            if "Unable to capture screenshot" not in str(exc) or attempt == 2:
                raise
            page.wait_for_timeout(250)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


UNCOVERED = """(el) => {
  const r = el.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  const style = getComputedStyle(el);
  return {covered: !(hit && (hit === el || el.contains(hit))),
          opacity: style.opacity, visibility: style.visibility};
}"""


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_badges_visible_on_homepage(browser, site_url: str, tmp_path: Path,
                                    width: int, height: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(f"{site_url}/")
        shot = tmp_path / f"home-{width}.png"
        screenshot(page, shot)
        assert png_size(shot) == (width, height)
        assert page.locator("link[href$='/theme/css/social.css']").count() >= 1
        page.wait_for_function(
            "() => [...document.styleSheets].some(s => (s.href || '').endsWith('social.css'))")

        # The compact row in the header: every icon link on screen.
        compact = page.locator(".social-compact a.social-link")
        assert compact.count() == 7
        for i in range(compact.count()):
            link = compact.nth(i)
            assert link.is_visible()
            box = link.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
            assert box["y"] >= 0 and box["y"] + box["height"] <= height
            assert box["width"] >= 24 and box["height"] >= 24, "a usable target"

        # The prominent row: all badges inside the page's width, the first rows on screen.
        badges = page.locator(".social-home a.social-badge")
        assert badges.count() == 6
        first = badges.nth(0)
        first.wait_for(state="visible")
        box = first.bounding_box()
        assert box["y"] + box["height"] <= height, "the first badge is above the fold"
        for i in range(badges.count()):
            badge = badges.nth(i)
            assert badge.is_visible()
            box = badge.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, i, box)
            badge.scroll_into_view_if_needed()
            state = badge.evaluate(UNCOVERED)
            assert not state["covered"] and state["visibility"] == "visible"
            assert float(state["opacity"]) == 1
        assert "1.086 Follower" in first.inner_text()
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, tmp_path / f"home-{width}-full.png", full_page=True)
    finally:
        page.close()


def test_keyboard_focus_on_badges_is_visible(browser, site_url: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{site_url}/")
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('social-badge')"):
                break
        else:
            pytest.fail("no homepage badge is reachable with the Tab key")
        style = page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, s.outlineWidth]; })()")
        assert style[0] != "none" and float(style[1].removesuffix("px")) >= 2
    finally:
        page.close()
