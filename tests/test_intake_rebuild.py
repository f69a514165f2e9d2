"""Entries that go live without a moderator's click also reach the page at once."""

from __future__ import annotations

from pathlib import Path

from liveserver import live_server, wait_for
from sitebuilder import build_site
from test_intake_support import approved, client, form, make_settings

from replik.server.app import create_app


def _page(settings: dict) -> Path:
    return next(Path(settings.output_path).glob("**/offene-debatte/index.html"))


def test_an_auto_approved_comment_is_rebuilt_onto_the_page(tmp_path):
    with live_server() as (base, holder):
        settings = make_settings(tmp_path, siteurl=base, REPLIK_AUTO_APPROVE_KNOWN=True,
                                 REPLIK_REBUILD_DEBOUNCE=0.0)
        approved(Path(settings.store), "offene-debatte", author="Erika Muster")
        build_site(settings)
        holder.app = create_app(settings=settings)
        text = "Schon wieder ich, freigegeben ohne Klick."
        answer = client(base).post("/replik/comment", data=form(body=text))
        assert answer.status_code == 303
        wait_for(lambda: text in _page(settings).read_text(encoding="utf-8"), "the page",
                 timeout=60)
