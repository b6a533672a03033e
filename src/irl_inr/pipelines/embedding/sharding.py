"""Embedding extraction and neighbour mining split into shards of rows, each its own node,
so that a parallel runner (``irl_inr.runner.DaskRunner``) runs them side by side.

Each extraction shard reads only its rows of the images, memory-mapped
(``images_mmap``: the images file loaded with ``mmap: true``), and runs the unsharded
node's code on them; shard boundaries fall on multiples of ``embedding.batch_size``, so
every batch the model sees is the batch it sees unsharded and the concatenated outputs
are byte for byte those of ``extract_embeddings``.  Each mining shard searches its query
rows against the full (small: N x d) index of codes, exactly as ``mine_neighbours``
searches all of them.  The number of shards is a property of the pipeline (a node per
shard), given when it is built.
"""

from __future__ import annotations

import logging
from functools import partial, update_wrapper

import numpy as np
import pandas as pd
from kedro.pipeline import Node, Pipeline

from irl_inr import metrics
from irl_inr.pipelines.clustering.parameters import ClusteringParameters
from irl_inr.pipelines.embedding.parameters import EmbeddingParameters
from irl_inr.pipelines.clustering.nodes import (
    _check_label_classes,
    _embedded_rows,
    _finite_codes,
    _threads,
    _unlabelled,
)
from irl_inr.pipelines.embedding.nodes import extract_embeddings

logger = logging.getLogger(__name__)

EXTRACTED = ("semantic_codes", "predicted_poses", "reconstructions", "canonical_images")


def shard_rows(rows: int, shards: int, multiple: int) -> list[tuple[int, int]]:
    """``shards`` consecutive [start, stop) ranges covering ``rows``, every inner boundary a
    multiple of ``multiple``; ranges are empty when there are fewer blocks than shards."""
    if shards < 1 or multiple < 1:
        raise ValueError(f"shards ({shards}) and multiple ({multiple}) must be positive")
    blocks = -(-rows // multiple)
    edges = [min(rows, (blocks * index // shards) * multiple) for index in range(shards + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _split_rows(images: np.ndarray, image_table: pd.DataFrame, split: str) -> np.ndarray:
    """Row numbers of ``split`` in table order (what ``select_split`` keeps), no pixel read."""
    if len(images) != len(image_table):
        raise ValueError(f"{len(images)} images but {len(image_table)} rows in their table")
    if split == "all":
        return np.arange(len(image_table))
    rows = np.flatnonzero((image_table["split"] == split).to_numpy())
    if not len(rows):
        raise ValueError(f"no image has split {split!r}; the table has {sorted(image_table['split'].unique())}")
    return rows


def extract_embeddings_shard(
    model_bundle: dict, images: np.ndarray, image_table: pd.DataFrame, parameters: dict, shard: int, shards: int
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
    """``extract_embeddings`` on shard ``shard`` of ``shards`` of the split's rows; reads
    only those rows of ``images`` (a memory map).  An empty shard gives empty outputs."""
    options = EmbeddingParameters.from_dict(parameters)
    rows = _split_rows(images, image_table, options.split)
    start, stop = shard_rows(len(rows), shards, options.batch_size)[shard]
    selected = rows[start:stop]
    shard_images = np.array(images[start:stop] if options.split == "all" else images[selected])  # this shard, read
    shard_table = image_table.iloc[selected]
    if not len(selected):
        empty = np.empty((0, *images.shape[1:]), dtype=np.float32)
        return np.empty((0, 0), dtype=np.float32), shard_table, empty, empty
    return extract_embeddings(model_bundle, shard_images, shard_table, {**parameters, "split": "all"})


def concatenate_embedding_shards(
    image_table: pd.DataFrame, parameters: dict, *shard_outputs
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
    """The shards' (codes, pose table, reconstructions, canonical images), four per shard
    in shard order, joined into what ``extract_embeddings`` returns."""
    options = EmbeddingParameters.from_dict(parameters)
    shards = [shard_outputs[index : index + 4] for index in range(0, len(shard_outputs), 4)]
    filled = [shard for shard in shards if len(shard[0])]
    codes, poses, reconstructions, canonical = (list(part) for part in zip(*filled))
    pose_table = pd.concat(poses, ignore_index=True)
    if options.split == "all":
        pose_table.index = image_table.index
    return np.concatenate(codes), pose_table, np.concatenate(reconstructions), np.concatenate(canonical)


def _for_shard(function, shard: int, shards: int):
    """``function`` bound to one shard, keeping its name for Kedro's logs."""
    return update_wrapper(partial(function, shard=shard, shards=shards), function)


def sharded_extraction(shards: int) -> Pipeline:
    """``extract_embeddings_shard_<i>`` for i < ``shards`` and ``concatenate_embedding_shards``,
    with the outputs of ``extract_embeddings``: it replaces that node."""
    nodes = [
        Node(
            _for_shard(extract_embeddings_shard, index, shards),
            inputs=["irl_inr_model", "images_mmap", "image_table", "params:embedding"],
            outputs=[f"{name}_shard_{index}" for name in EXTRACTED],
            name=f"extract_embeddings_shard_{index}",
        )
        for index in range(shards)
    ]
    nodes.append(
        Node(
            concatenate_embedding_shards,
            inputs=["image_table", "params:embedding",
                    *(f"{name}_shard_{index}" for index in range(shards) for name in EXTRACTED)],
            outputs=list(EXTRACTED),
            name="concatenate_embedding_shards",
        )
    )
    return Pipeline(nodes, tags="embedding")


def sharded_mining(shards: int) -> Pipeline:
    """``mine_neighbours_shard_<i>`` for i < ``shards`` and ``concatenate_neighbour_shards``,
    with the outputs of ``mine_neighbours``: it replaces that node."""
    nodes = [
        Node(
            _for_shard(mine_neighbours_shard, index, shards),
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


def _mining_codes(semantic_codes: np.ndarray, predicted_poses: pd.DataFrame, options: ClusteringParameters):
    """The unit-length codes of ``clustering.split`` and their table, checked as ``mine_neighbours`` does."""
    codes, table = _embedded_rows(_finite_codes(semantic_codes, "semantic_codes"), predicted_poses, options,
                                  "semantic_codes")
    k = options.mining.neighbours
    if k >= len(codes):
        raise ValueError(
            f"clustering.mining.neighbours = {k}: must be below the number of images ({len(codes)}) of "
            f"clustering.split = {options.split!r} in semantic_codes"
        )
    return codes, table


def mine_neighbours_shard(
    semantic_codes: np.ndarray, predicted_poses: pd.DataFrame, parameters: dict, shard: int, shards: int
) -> np.ndarray:
    """The ``clustering.mining.neighbours`` nearest codes (cosine, faiss, itself excluded)
    of the query rows of shard ``shard`` of ``shards``, among all codes of the split."""
    options = ClusteringParameters.from_dict(parameters)
    codes, _ = _mining_codes(semantic_codes, predicted_poses, options)
    k = options.mining.neighbours
    start, stop = shard_rows(len(codes), shards, 1)[shard]
    database = metrics._unit_rows(codes)
    with _threads(options.num_threads):
        candidates, _ = metrics._search(database, database[start:stop], k + 1, "faiss")
    # As metrics.nearest_neighbours: drop the row itself, or the last candidate when
    # duplicates pushed it out of the list.
    keep = candidates != np.arange(start, stop)[:, None]
    keep[keep.all(axis=1), -1] = False
    return candidates[keep].reshape(stop - start, k).astype(np.int64)


def concatenate_neighbour_shards(
    predicted_poses: pd.DataFrame, parameters: dict, *shard_neighbours: np.ndarray
) -> tuple[np.ndarray, dict]:
    """``scan_neighbours`` and ``mining_metrics`` as ``mine_neighbours`` returns them."""
    options = ClusteringParameters.from_dict(parameters)
    neighbours = np.concatenate(shard_neighbours)
    table = predicted_poses if options.split == "all" else predicted_poses[predicted_poses["split"] == options.split]
    if len(table) != len(neighbours) or len(table) < options.n_clusters:
        raise ValueError(f"{len(neighbours)} mined rows for {len(table)} images of clustering.split = {options.split!r}")
    _check_label_classes(table, options, "predicted_poses")
    mining = {"images": int(len(neighbours)), "neighbours": int(options.mining.neighbours)}
    if not _unlabelled(table["label"].to_numpy()):
        mining["neighbour_acc"] = metrics.neighbour_accuracy(table["label"].to_numpy(), neighbours)
    logger.info("Mined %d neighbours of %d codes in %d shards: %s", mining["neighbours"], mining["images"],
                len(shard_neighbours), mining)
    return neighbours, mining
