"""Under torchrun, only rank 0's Kedro session writes the run's outputs."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from irl_inr.training.kedro_hooks import RankZeroSavesHooks

HISTORY = pd.DataFrame({"epoch": [1, 2], "total": [0.5, 0.25]})


def _history() -> pd.DataFrame:
    return HISTORY


@pytest.fixture
def catalog(tmp_path) -> DataCatalog:
    """A catalog factory like the project's: ``{domain}.training_history`` on disk."""
    factory = {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "{domain}" / "training_history.csv")}
    return DataCatalog.from_config({"{domain}.training_history": factory})


# Namespaced like the project's pipelines: the node writes "mnist_u.training_history".
PIPELINE = Pipeline([node(_history, None, "training_history", name="record_history")], namespace="mnist_u")


def _torchrun_rank(monkeypatch, rank: int) -> None:
    torchrun = {"WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank)}
    for name, value in {**torchrun, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(name, value)


def test_ranks_above_zero_keep_their_outputs_in_memory(monkeypatch, tmp_path, catalog):
    _torchrun_rank(monkeypatch, 1)
    RankZeroSavesHooks().before_pipeline_run(run_params={}, pipeline=PIPELINE, catalog=catalog)
    assert isinstance(catalog.get("mnist_u.training_history"), MemoryDataset)
    catalog.save("mnist_u.training_history", HISTORY)
    assert not (tmp_path / "mnist_u").exists()
    pd.testing.assert_frame_equal(catalog.load("mnist_u.training_history"), HISTORY)


@pytest.mark.parametrize("rank", [0, None])
def test_rank_zero_and_single_process_runs_save_as_configured(monkeypatch, tmp_path, catalog, rank):
    if rank is None:
        for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
            monkeypatch.delenv(name, raising=False)
    else:
        _torchrun_rank(monkeypatch, rank)
    RankZeroSavesHooks().before_pipeline_run(run_params={}, pipeline=PIPELINE, catalog=catalog)
    catalog.save("mnist_u.training_history", HISTORY)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "mnist_u" / "training_history.csv"), HISTORY)
