"""How the desk looks in a real browser: phone width, styled controls, focus, axe-core.

The desk runs on the project's own theme, so its pages are in German (the
catalogs live there), with German names and numbers, as a moderator sees them.
"""

from __future__ import annotations

import re

import pytest
from a11y import axe_violations, contrast, describe, hex_colour
from test_desk_site import PASSWORD, PROJECT_THEME, Served, add_entry, hash_env
from test_report import populate, t

pytestmark = pytest.mark.browser

LONG_URL = "https://eine-sehr-lange-adresse.example/" + "pfad-ohne-leerzeichen-" * 6


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory):
    monkeypatch = pytest.MonkeyPatch()
    hash_env(monkeypatch)
    for name in ("PYTHON_AKISMET_API_KEY", "PYTHON_AKISMET_BLOG_URL"):
        monkeypatch.delenv(name, raising=False)
    served = Served(tmp_path_factory.mktemp("desk") / "site", posts=4, theme=PROJECT_THEME)
    served.wait_built()
    served.ids = populate(served.root)
    # Long words that do not break by themselves, as readers and spammers send them.
    served.ids["long"] = add_entry(
        served.store, "post-2", when=t(12, 9), author="Maximiliane Leutheusser-Schnarrenberger",
        email="maximiliane.leutheusser-schnarrenberger@beispiel-unternehmen.example",
        url=LONG_URL, body=f"Siehe {LONG_URL} und Donaudampfschifffahrtsgesellschaftskapitän"
        ).id
    yield served
    served.close()
    monkeypatch.undo()


def pages(desk: Served) -> dict[str, str]:
    ids = desk.ids
    return {
        "queue": "/moderate/queue?state=all",
        "entry": f"/moderate/entry/{ids['s2']}",  # with its parent, history and reply form
        "parent": f"/moderate/entry/{ids['c2']}",  # with replies
        "long": f"/moderate/entry/{ids['long']}",
        "report": "/moderate/?since=2026-03-02&until=2026-03-16",
        "year": "/moderate/?since=2026-01-01&until=2026-12-31",
        "delete": f"/moderate/entry/{ids['c3']}/delete",
    }


def open_desk(browser, desk: Served, width: int = 1280, scheme: str = "light"):
    """A logged-in tab; the CSP is bypassed so that axe-core can be injected."""
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  color_scheme=scheme, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{desk.url}/moderate/login")
    page.fill("input[name=name]", "anna")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(re.compile(r"/moderate/$"))
    return context, page


def overflow(page) -> int:
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_every_desk_page_fits_a_phone(browser, desk: Served) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(f"{desk.url}/moderate/login")
        assert overflow(page) <= 0, "login scrolls sideways at 390 px"
        context.close()
        context, page = open_desk(browser, desk, width=390)
        for name, path in pages(desk).items():
            page.goto(desk.url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, \
                f"{name} is wider than the phone"
    finally:
        context.close()


CONTROLS = "button, select, input:not([type=hidden]), textarea, summary"


def test_controls_are_styled_and_every_focus_is_visible(browser, desk: Served) -> None:
    context, page = open_desk(browser, desk)
    try:
        for name in ("queue", "entry", "report"):
            page.goto(desk.url + pages(desk)[name])
            if name == "entry":
                page.locator("details.edit").evaluate("d => d.open = true")
            # The desk's two families: sans-serif, and the serif of the site's texts.
            fonts = page.evaluate("[getComputedStyle(document.body).fontFamily,"
                                  " getComputedStyle(document.querySelector('h1')).fontFamily]")
            styles = page.eval_on_selector_all(CONTROLS, """els => els
                .filter(e => e.offsetParent !== null)
                .map(e => { const s = getComputedStyle(e), r = e.getBoundingClientRect();
                  return {what: e.outerHTML.slice(0, 80), font: s.fontFamily,
                          size: parseFloat(s.fontSize), height: r.height, width: r.width,
                          type: e.type || e.tagName}; })""")
            assert len(styles) >= 3
            for found in styles:
                # Browser defaults are 13.3 px in the system font, tiny checkboxes.
                if found["type"] != "checkbox":
                    assert found["font"] in fonts, found
                    assert found["size"] >= 14, found
                assert found["height"] >= 24 and found["width"] >= 20, found
            # Tab through the page: each stop shows a solid ring of at least 2 px that
            # stands out from the page (3:1).
            background = hex_colour(page.evaluate(
                "getComputedStyle(document.body).backgroundColor"))
            page.locator("body").click(position={"x": 1, "y": 1})
            stops = 0
            for _stop in range(40):
                page.keyboard.press("Tab")
                ring = page.evaluate("""(() => { const e = document.activeElement;
                    if (!e || e === document.body || e.dataset.tabbed) return null;
                    e.dataset.tabbed = "1";
                    const s = getComputedStyle(e);
                    return {what: e.outerHTML.slice(0, 80), style: s.outlineStyle,
                            width: parseFloat(s.outlineWidth), colour: s.outlineColor}; })()""")
                if ring is None:
                    break
                stops += 1
                assert ring["style"] == "solid" and ring["width"] >= 2, (name, ring)
                assert contrast(hex_colour(ring["colour"]), background) >= 3, (name, ring)
            assert stops >= 5, name
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_the_desk(browser, desk: Served, scheme: str) -> None:
    context = browser.new_context(color_scheme=scheme, bypass_csp=True)
    page = context.new_page()
    found = {}
    try:
        page.goto(f"{desk.url}/moderate/login")
        found["login"] = axe_violations(page)
        context.close()
        context, page = open_desk(browser, desk, scheme=scheme)
        for name, path in pages(desk).items():
            page.goto(desk.url + path)
            found[name] = axe_violations(page)
    finally:
        context.close()
    problems = {name: describe(v) for name, v in found.items() if v}
    assert not problems, "\n".join(f"{name}:\n{text}" for name, text in problems.items())


def test_the_desk_follows_the_dark_scheme(browser, desk: Served) -> None:
    colours = {}
    for scheme in ("light", "dark"):
        context, page = open_desk(browser, desk, scheme=scheme)
        try:
            page.goto(desk.url + pages(desk)["queue"])
            colours[scheme] = page.evaluate(
                "[getComputedStyle(document.body).color, getComputedStyle(document.body)"
                ".backgroundColor]")
        finally:
            context.close()
    text, background = (hex_colour(c) for c in colours["dark"])
    assert colours["dark"] != colours["light"]
    assert contrast(text, background) >= 6.5


def test_chart_scrolls_inside_its_box_on_a_phone(browser, desk: Served) -> None:
    context, page = open_desk(browser, desk, width=390)
    try:
        page.goto(desk.url + pages(desk)["year"])
        box = page.locator("figure.chart").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390
        # The chart keeps a readable size: its text is drawn at 11 px or more.
        size = page.evaluate("""(() => { const svg = document.querySelector('svg.chart');
            const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
            return scale * parseFloat(getComputedStyle(svg.querySelector('.tick')).fontSize);
            })()""")
        assert size >= 11
        # As drawn by the browser, no two labels of a year's chart overlap.
        boxes = page.evaluate("""Array.from(document.querySelectorAll('svg.chart text'))
            .map(t => { const b = t.getBBox(); return [t.textContent, b.x, b.y,
                                                       b.x + b.width, b.y + b.height]; })""")
        assert len(boxes) > 20
        for index, one in enumerate(boxes):
            for other in boxes[index + 1:]:
                assert not (one[1] < other[3] and other[1] < one[3] and one[2] < other[4]
                            and other[2] < one[4]), f"{one[0]!r} overlaps {other[0]!r}"
    finally:
        context.close()
