"""The build reads the approved threads from PostgreSQL as it reads them from files.

The sample blog's store (every entry, in every state, private fields included) is
copied into a PostgreSQL database through the store contract; a real Pelican build
with ``REPLIK_DATABASE_URL`` set (and no comments folder at all) must write the
same bytes, page for page and feed for feed, as the build from the files: cold,
and again with the thread cache the database build left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sitebuilder import ROOT, snapshot

from replik import pg
from replik.pgstore import PgStore
from replik.store import Store

pytestmark = pytest.mark.slow
SITEURL = "https://dialogfeld.test"


def build(out: Path, cache: Path, store: Path, database_url: str = "") -> str:
    """The real Pelican on the project's content/ and theme/ into ``out``; its log."""
    overrides = {"SITEURL": SITEURL, "FEED_DOMAIN": SITEURL, "REPLIK_STORE": str(store),
                 "REPLIK_CACHE": str(cache), "CACHE_PATH": str(out.parent / "pelican-cache")}
    args = [sys.executable, "-m", "pelican", "content", "-o", str(out), "-s", "pelicanconf.py",
            "-e", *(f"{key}={json.dumps(value)}" for key, value in overrides.items())]
    env = {key: value for key, value in os.environ.items() if key != "REPLIK_DATABASE_URL"}
    if database_url:
        env["REPLIK_DATABASE_URL"] = database_url
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"pelican failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def copy_store(source: Store, url: str) -> int:
    """Every entry of ``source`` into the database at ``url``, in its state."""
    pg.upgrade(url)
    db = pg.PgDatabase(url)
    try:
        entries = list(source.all_entries(on_error="raise"))
        assert PgStore(db).add_many((entry, entry.state) for entry in entries) == []
        assert PgStore(db).ids() == source.ids()
        return sum(entry.state == "approved" for entry in entries)
    finally:
        db.close()


def test_a_build_from_postgresql_writes_the_same_bytes_as_from_files(
        pg_url: str, tmp_path: Path) -> None:
    build(tmp_path / "files" / "output", tmp_path / "files" / "cache", ROOT / "comments")
    files = snapshot(tmp_path / "files" / "output")
    assert copy_store(Store(ROOT / "comments"), pg_url) > 20
    nowhere = tmp_path / "no-comments-folder"  # the database build must not need one
    for run in ("cold", "warm"):
        out = tmp_path / "postgres" / "output"
        log = build(out, tmp_path / "postgres" / "cache", nowhere, pg_url)
        assert "ERROR" not in log and "Traceback" not in log
        built = snapshot(out)
        assert built.keys() == files.keys(), run
        different = [str(path) for path in files if built[path] != files[path]]
        assert different == [], f"{run}: {different}"
    assert not nowhere.exists()
    assert (tmp_path / "postgres" / "cache" / "threads" / "threads.cache").stat().st_size > 0
