"""Sharded extraction and mining write the bytes the unsharded nodes write."""

import io

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from irl_inr.pipelines.clustering.nodes import mine_neighbours
from irl_inr.pipelines.clustering.sharding import sharded_mining
from irl_inr.pipelines.embedding.nodes import extract_embeddings
from irl_inr.pipelines.embedding.sharding import (
    EXTRACTED,
    concatenate_embedding_shards,
    extract_embeddings_shard,
    sharded_extraction,
)
from tests.pipelines.clustering.test_nodes import data as clustering_data  # noqa: F401 - fixture
from tests.pipelines.clustering.test_nodes import directory, tiny  # noqa: F401 - fixture
from tests.pipelines.embedding.test_nodes import SMALL, irl_inr_model, data  # noqa: F401 - fixtures


def as_bytes(output) -> bytes:
    """What the catalog's NumpyDataset / ParquetDataset write."""
    buffer = io.BytesIO()
    if isinstance(output, pd.DataFrame):
        output.to_parquet(buffer)
    else:
        np.save(buffer, output)
    return buffer.getvalue()


@pytest.fixture
def images_mmap(data, tmp_path):  # noqa: F811 - the fixture imported above
    np.save(tmp_path / "images.npy", data[0])
    return np.load(tmp_path / "images.npy", mmap_mode="r")


@pytest.mark.parametrize(("split", "shards"), [("all", 3), ("train", 2), ("all", 5)])
def test_sharded_extraction_writes_the_unsharded_bytes(irl_inr_model, data, images_mmap, split, shards):  # noqa: F811
    images, table = data
    parameters = {**SMALL, "batch_size": 8, "split": split}
    expected = extract_embeddings(irl_inr_model, images, table, parameters)
    pieces = [extract_embeddings_shard(irl_inr_model, images_mmap, table, parameters, shard=index, shards=shards)
              for index in range(shards)]
    joined = concatenate_embedding_shards(table, parameters, *(output for piece in pieces for output in piece))
    for name, want, got in zip(EXTRACTED, expected, joined):
        assert as_bytes(got) == as_bytes(want), name


def test_the_sharded_pipeline_replaces_extract_embeddings(irl_inr_model, data, images_mmap):  # noqa: F811
    images, table = data
    parameters = {**SMALL, "batch_size": 8}
    catalog = DataCatalog(datasets={
        "irl_inr_model": MemoryDataset(irl_inr_model), "images_mmap": MemoryDataset(images_mmap, copy_mode="assign"),
        "image_table": MemoryDataset(table), "params:embedding": MemoryDataset(parameters),
    })
    pipeline = sharded_extraction(3)
    assert sorted(node.name for node in pipeline.nodes) == [
        "concatenate_embedding_shards", "extract_embeddings_shard_0", "extract_embeddings_shard_1",
        "extract_embeddings_shard_2",
    ]
    assert pipeline.outputs() == set(EXTRACTED) == {"semantic_codes", "predicted_poses"}
    outputs = SequentialRunner().run(pipeline, catalog)
    expected = extract_embeddings(irl_inr_model, images, table, parameters)[0]
    np.testing.assert_array_equal(outputs["semantic_codes"].load(), expected)


@pytest.mark.parametrize(("split", "shards"), [("all", 3), ("train", 4)])
def test_sharded_mining_writes_the_unsharded_bytes(clustering_data, directory, split, shards):  # noqa: F811
    _, _, codes, poses = clustering_data
    parameters = tiny(directory, split=split)
    expected_neighbours, expected_mining = mine_neighbours(codes, poses, parameters)
    catalog = DataCatalog(datasets={"semantic_codes": MemoryDataset(codes), "predicted_poses": MemoryDataset(poses),
                                    "params:clustering": MemoryDataset(parameters)})
    outputs = SequentialRunner().run(sharded_mining(shards), catalog)
    assert as_bytes(outputs["scan_neighbours"].load()) == as_bytes(expected_neighbours)
    assert outputs["mining_metrics"].load() == expected_mining
