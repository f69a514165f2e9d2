"""The templates' _(), ngettext() and pgettext() write exactly what Jinja's own
newstyle gettext writes, however often a call repeats (their results are kept)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import Environment
from markupsafe import Markup

from replik.i18n import install_into, translations_for
from replik.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = Settings(theme=str(ROOT / "theme"))

CALLS = (
    '{{ _("Read more") }}|{{ _("on %(title)s", title=value) }}|'
    '{{ ngettext("%(count)s comment", "%(count)s comments", n, count=n) }}|'
    '{{ ngettext("%(num)s comment", "%(num)s comments", n) }}|'
    '{{ _("%(site)s: all posts (Atom)", site=value) }}|'
    '{{ pgettext("post date", "on") }}|{{ pgettext("post date", "on %(x)s", x=value) }}|'
    '{{ npgettext("post date", "%(num)s comment", "%(num)s comments", n) }}'
)
VALUES = ["Kunden & Marken", "a<b>", Markup("<em>schon sicher</em>"), "a<b>", 7,
          Markup("a<b>"), "Kunden & Marken", "100 %", 0]


def environments(autoescape: bool) -> tuple[Environment, Environment]:
    ours = Environment(autoescape=autoescape)
    install_into(ours, SETTINGS)
    jinjas = Environment(autoescape=autoescape, extensions=["jinja2.ext.i18n"])
    jinjas.install_gettext_translations(translations_for(SETTINGS, "de"), newstyle=True)
    return ours, jinjas


@pytest.mark.parametrize("autoescape", [True, False])
def test_every_call_writes_what_jinjas_gettext_writes(autoescape: bool) -> None:
    ours, jinjas = environments(autoescape)
    mine, theirs = ours.from_string(CALLS), jinjas.from_string(CALLS)
    # Twice over, so that the second round is served from what the first kept.
    for value in VALUES * 2:
        for n in (0, 1, 2, 21):
            context = {"value": value, "n": n, "article": SimpleNamespace(lang="de")}
            assert mine.render(context) == theirs.render(context), (value, n)


def test_a_markup_value_is_not_served_the_escaped_result_of_its_text() -> None:
    # Markup("a<b>") == "a<b>" and both hash alike; the kept result must not mix them.
    ours, _jinjas = environments(autoescape=True)
    template = ours.from_string('{{ _("on %(title)s", title=value) }}')
    assert template.render(value="a<b>") == "zu „a&lt;b&gt;“"
    assert template.render(value=Markup("a<b>")) == "zu „a<b>“"
    assert template.render(value="a<b>") == "zu „a&lt;b&gt;“"


def test_each_page_language_gets_its_own_result() -> None:
    ours, _jinjas = environments(autoescape=True)
    template = ours.from_string('{{ ngettext("%(count)s comment", "%(count)s comments", n,'
                                ' count=n) }}')
    words = [template.render(n=3, article=SimpleNamespace(lang=lang))
             for lang in ("de", "en", "de", "en")]
    assert words == ["3 Kommentare", "3 comments", "3 Kommentare", "3 comments"]
