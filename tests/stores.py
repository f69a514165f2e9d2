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


STORES: dict[str, Callable[[pytest.FixtureRequest], Opener]] = {"files": file_store}
