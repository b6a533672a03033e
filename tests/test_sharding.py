"""Row ranges of sharded nodes."""

import pytest

from irl_inr.sharding import shard_rows


def test_shard_rows_cover_every_row_on_batch_boundaries():
    assert shard_rows(30, 3, 8) == [(0, 8), (8, 16), (16, 30)]
    assert shard_rows(30, 5, 8) == [(0, 0), (0, 8), (8, 16), (16, 24), (24, 30)]
    assert shard_rows(7, 2, 1) == [(0, 3), (3, 7)]
    with pytest.raises(ValueError, match="must be positive"):
        shard_rows(7, 0, 1)
