"""A node split into shards of rows, each its own node, so that a parallel runner
(``irl_inr.runner.DaskRunner``) runs them side by side: the row ranges of the shards,
and a node function bound to one shard."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper


def shard_rows(rows: int, shards: int, multiple: int) -> list[tuple[int, int]]:
    """``shards`` consecutive [start, stop) ranges covering ``rows``, every inner boundary a
    multiple of ``multiple``; ranges are empty when there are fewer blocks than shards."""
    if shards < 1 or multiple < 1:
        raise ValueError(f"shards ({shards}) and multiple ({multiple}) must be positive")
    blocks = -(-rows // multiple)
    edges = [min(rows, (blocks * index // shards) * multiple) for index in range(shards + 1)]
    return list(zip(edges[:-1], edges[1:]))


def for_shard(function: Callable, shard: int, shards: int) -> Callable:
    """``function`` bound to one shard, keeping its name for Kedro's logs."""
    return update_wrapper(partial(function, shard=shard, shards=shards), function)
