"""SCAN's neighbour mining split into shards of query rows, each its own node, so that a
parallel runner (``irl_inr.runner.DaskRunner``) runs them side by side. Each shard
searches its query rows against the full (small: N x d) index of codes, exactly as
``mine_neighbours`` searches all of them. The number of shards is a property of the
pipeline (a node per shard), given when it is built."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from kedro.pipeline import Node, Pipeline

from irl_inr import metrics
from irl_inr.pipelines.clustering.inputs import mining_codes, mining_measures
from irl_inr.pipelines.clustering.parameters import ClusteringParameters
from irl_inr.runtime import thread_limit
from irl_inr.sharding import for_shard, shard_rows
from irl_inr.tables import rows_of_split

logger = logging.getLogger(__name__)


def mine_neighbours_shard(
    semantic_codes: np.ndarray, predicted_poses: pd.DataFrame, parameters: dict, shard: int, shards: int
) -> np.ndarray:
    """The ``clustering.mining.neighbours`` nearest codes (cosine, faiss, itself excluded)
    of the query rows of shard ``shard`` of ``shards``, among all codes of the split."""
    options = ClusteringParameters.from_dict(parameters)
    codes, _ = mining_codes(semantic_codes, predicted_poses, options)
    rows = shard_rows(len(codes), shards, 1)[shard]
    with thread_limit(options.num_threads):
        neighbours, _ = metrics.nearest_neighbours(
            codes, options.mining.neighbours, metric="cosine", backend="faiss", rows=rows
        )
    return neighbours.astype(np.int64)


def concatenate_neighbour_shards(
    predicted_poses: pd.DataFrame, parameters: dict, *shard_neighbours: np.ndarray
) -> tuple[np.ndarray, dict]:
    """``scan_neighbours`` and ``mining_metrics`` as ``mine_neighbours`` returns them."""
    options = ClusteringParameters.from_dict(parameters)
    neighbours = np.concatenate(shard_neighbours)
    table = predicted_poses.iloc[rows_of_split(predicted_poses, options.split)]
    if len(table) != len(neighbours) or len(table) < options.n_clusters:
        raise ValueError(
            f"{len(neighbours)} mined rows for {len(table)} images of clustering.split = {options.split!r}"
        )
    options.check_label_classes(table, "predicted_poses")
    mining = mining_measures(table, neighbours, options.mining.neighbours)
    logger.info("Mined %d neighbours of %d codes in %d shards: %s", mining["neighbours"], mining["images"],
                len(shard_neighbours), mining)
    return neighbours, mining


def sharded_mining(shards: int) -> Pipeline:
    """``mine_neighbours_shard_<i>`` for i < ``shards`` and ``concatenate_neighbour_shards``,
    with the outputs of ``mine_neighbours``: it replaces that node."""
    nodes = [
        Node(
            for_shard(mine_neighbours_shard, index, shards),
            inputs=["semantic_codes", "predicted_poses", "params:clustering"],
            outputs=f"scan_neighbours_shard_{index}",
            name=f"mine_neighbours_shard_{index}",
        )
        for index in range(shards)
    ]
    nodes.append(
        Node(
            concatenate_neighbour_shards,
            inputs=["predicted_poses", "params:clustering", *(f"scan_neighbours_shard_{i}" for i in range(shards))],
            outputs=["scan_neighbours", "mining_metrics"],
            name="concatenate_neighbour_shards",
        )
    )
    return Pipeline(nodes, tags="clustering")
