"""Shared test helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The project is installed editable; this keeps tests working from a bare checkout too.
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

IN_CI = os.environ.get("CI", "").lower() == "true"

CHROMIUM = Path("/usr/bin/chromium")
# Flags for headless Chromium on a machine with no network but loopback.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses Chromium is a browser test, marked or not (``make test-fast``
    leaves them out)."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright; skipped without it, a failure in CI."""
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing (required in CI)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for this test process (each xdist worker has
    its own); skipped without PostgreSQL, a failure in CI."""
    from pgcluster import Cluster, find_bin

    bindir = find_bin()
    if bindir is None:
        if IN_CI:
            pytest.fail("PostgreSQL (initdb, pg_ctl) is missing (required in CI)")
        pytest.skip("PostgreSQL is not installed")
    cluster = Cluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_url(pg_cluster):
    """A fresh, empty database for one test: its ``postgresql://`` URL."""
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)
