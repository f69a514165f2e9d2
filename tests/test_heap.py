"""Garbage-collector freezing has one owner: what the server froze stays frozen."""

from __future__ import annotations

import gc
from pathlib import Path

from sitebuilder import build_site
from test_intake_support import approved, make_settings

from replik.server.app import create_app


def test_the_desks_first_full_build_keeps_the_servers_heap_frozen(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    approved(Path(settings.store), "offene-debatte", body="Schon da.")
    build_site(settings)
    app = create_app(settings=settings)
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # the app and its article index, settled at start
    approved(Path(settings.store), "offene-debatte", body="Gerade freigegeben.")
    # What the desk's background worker runs for the first decision: a full build in
    # the server's process.
    app.extensions["replik_rebuilder"].rebuild_once()
    page = next(Path(settings.output_path).glob("**/offene-debatte/index.html"))
    assert "Gerade freigegeben." in page.read_text(encoding="utf-8")
    # The server's objects stay frozen, and the Pelican run the desk keeps for its
    # next syncs joins them.
    assert gc.get_freeze_count() > frozen
