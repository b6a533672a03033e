"""Embedding extraction split into shards of rows, each its own node, so that a parallel
runner (``irl_inr.runner.DaskRunner``) runs them side by side (neighbour mining has
its own shards, in the clustering pipeline's ``sharding`` module; both use the library's
``irl_inr.sharding``).

Each extraction shard reads only its rows of the images, memory-mapped
(``images_mmap``: the images file loaded with ``mmap: true``), and runs the unsharded
node's code on them; shard boundaries fall on multiples of ``embedding.batch_size``, so
every batch the model sees is the batch it sees unsharded and the concatenated outputs
are byte for byte those of ``extract_embeddings`` (codes and poses; the renders are
the unsharded ``render_images`` node's, after the join).  The number of shards is a property of the pipeline (a node per
shard), given when it is built.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.embedding.nodes import extract_embeddings
from irl_inr.pipelines.embedding.parameters import EmbeddingParameters
from irl_inr.sharding import for_shard, shard_rows
from irl_inr.tables import split_rows

EXTRACTED = ("semantic_codes", "predicted_poses")


def extract_embeddings_shard(
    irl_inr_model: dict, images: np.ndarray, image_table: pd.DataFrame, parameters: dict, shard: int, shards: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """``extract_embeddings`` on shard ``shard`` of ``shards`` of the split's rows; reads
    only those rows of ``images`` (a memory map).  An empty shard gives empty outputs."""
    options = EmbeddingParameters.from_dict(parameters)
    rows = split_rows(images, image_table, options.split)
    start, stop = shard_rows(len(rows), shards, options.batch_size)[shard]
    selected = rows[start:stop]
    shard_images = np.array(images[start:stop] if options.split == "all" else images[selected])  # this shard, read
    shard_table = image_table.iloc[selected]
    if not len(selected):
        return np.empty((0, 0), dtype=np.float32), shard_table
    return extract_embeddings(irl_inr_model, shard_images, shard_table, {**parameters, "split": "all"})


def concatenate_embedding_shards(
    image_table: pd.DataFrame, parameters: dict, *shard_outputs
) -> tuple[np.ndarray, pd.DataFrame]:
    """The shards' (codes, pose table), two per shard in shard order, joined into what
    ``extract_embeddings`` returns."""
    options = EmbeddingParameters.from_dict(parameters)
    width = len(EXTRACTED)
    shards = [shard_outputs[index : index + width] for index in range(0, len(shard_outputs), width)]
    filled = [shard for shard in shards if len(shard[0])]
    codes, poses = (list(part) for part in zip(*filled))
    pose_table = pd.concat(poses, ignore_index=True)
    if options.split == "all":
        pose_table.index = image_table.index
    return np.concatenate(codes), pose_table


def sharded_extraction(shards: int) -> Pipeline:
    """``extract_embeddings_shard_<i>`` for i < ``shards`` and ``concatenate_embedding_shards``,
    with the outputs of ``extract_embeddings``: it replaces that node."""
    nodes = [
        Node(
            for_shard(extract_embeddings_shard, index, shards),
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
