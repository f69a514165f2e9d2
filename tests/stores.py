"""The store implementations the contract suite (test_store_contract.py) runs against.

Each entry of ``STORES`` makes one fresh, empty store for a test and returns a
function that opens it (every call another handle on the same store, as another
process or connection would have one). A new implementation is one more entry.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from replik.store import Store
from replik.storespec import CommentStore

Opener = Callable[[], CommentStore]


def file_store(request: pytest.FixtureRequest) -> Opener:
    root = request.getfixturevalue("tmp_path") / "comments"
    return lambda: Store(root)


def pg_store(request: pytest.FixtureRequest) -> Opener:
    """A fresh database in the test run's throwaway cluster; each handle its own pool."""
    from replik import pg
    from replik.pgstore import PgStore

    url = request.getfixturevalue("pg_url")
    pg.upgrade(url)
    handles: list[pg.PgDatabase] = []
    request.addfinalizer(lambda: [db.close() for db in handles])

    def opener() -> CommentStore:
        handles.append(pg.PgDatabase(url))
        return PgStore(handles[-1])

    return opener


STORES: dict[str, Callable[[pytest.FixtureRequest], Opener]] = {
    "files": file_store, "postgres": pg_store}
