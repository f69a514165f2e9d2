"""files.write_atomic: the one way a whole file is replaced."""

from __future__ import annotations

import os

import pytest

from replik.files import write_atomic


def test_write_atomic_replaces_makes_folders_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "new" / "folder" / "data.json"
    write_atomic(target, "erst\n")  # the folder is made on the first write
    old_inode = target.stat().st_ino
    write_atomic(target, b"dann\n", durable=False)
    assert target.read_bytes() == b"dann\n"
    assert target.stat().st_ino != old_inode  # a new file renamed over, not rewritten
    assert os.listdir(target.parent) == ["data.json"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary_one(tmp_path):
    target = tmp_path / "data.txt"
    write_atomic(target, "alt")
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]  # fails after the temp file exists
    assert target.read_text() == "alt"
    assert os.listdir(tmp_path) == ["data.txt"]
