"""Atomic writes: the old file or the new one, and the permissions of any new file."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from irl_inr.datasets.numpy_array import NumpyDataset
from irl_inr.io.atomic import current_umask, write_atomically


@pytest.fixture
def umask():
    """Set the process umask for one test, and put the old one back."""
    before = os.umask(0o022)
    os.umask(before)
    yield lambda mask: os.umask(mask)
    os.umask(before)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_written_file_gets_the_permissions_the_umask_gives(tmp_path, umask, mask, mode):
    umask(mask)
    assert current_umask() == mask
    target = tmp_path / "table.txt"
    write_atomically(target, lambda path: path.write_text("new", encoding="utf-8"))
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == mode


def test_images_saved_through_the_catalog_are_readable_by_the_group(tmp_path, umask):
    umask(0o022)
    NumpyDataset(filepath=str(tmp_path / "images.npy")).save(np.zeros((2, 3, 3), dtype=np.float32))
    assert stat.S_IMODE((tmp_path / "images.npy").stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old", encoding="utf-8")

    def fail(path):
        path.write_text("half", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, fail)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
