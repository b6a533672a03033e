"""DaskRunner on small LocalClusters: the same results as the SequentialRunner, in-memory
datasets handed between workers (threads and processes), hooks on the workers, errors
that name the node or dataset, and where the cluster's settings come from."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from irl_inr import runner as runner_module
from irl_inr.datasets import NumpyDataset
from irl_inr.runner import ADDRESS_VARIABLE, DaskRunner


def squares(count: int) -> np.ndarray:
    return np.arange(count, dtype=np.float64) ** 2


def halves(values: np.ndarray) -> np.ndarray:
    return values / 2


def shifted(values: np.ndarray, count: int) -> np.ndarray:
    return values + count


def total(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return first + second


def refuse(values: np.ndarray) -> np.ndarray:
    raise RuntimeError("this node always fails")


def diamond() -> Pipeline:
    """squares -> (halves, shifted) side by side -> total; only ``total`` is on disk."""
    return Pipeline(
        [
            Node(squares, "params:count", "squared", name="squares"),
            Node(halves, "squared", "halved", name="halves"),
            Node(shifted, ["squared", "params:count"], "shifted", name="shifted"),
            Node(total, ["halved", "shifted"], "total", name="total"),
        ]
    )


def diamond_catalog(directory) -> DataCatalog:
    return DataCatalog(
        datasets={"total": NumpyDataset(str(directory / "total.npy")), "params:count": MemoryDataset(7)}
    )


def dask_runner(tmp_path, **options) -> DaskRunner:
    options.setdefault("n_workers", 2)
    options.setdefault("threads_per_worker", 1)
    options.setdefault("processes", False)
    return DaskRunner(conf_source=str(tmp_path), **options)


def test_threads_give_what_the_sequential_runner_gives(tmp_path):
    (tmp_path / "sequential").mkdir()
    (tmp_path / "dask").mkdir()
    SequentialRunner().run(diamond(), diamond_catalog(tmp_path / "sequential"))
    dask_runner(tmp_path).run(diamond(), diamond_catalog(tmp_path / "dask"))
    expected = np.load(tmp_path / "sequential/total.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "dask/total.npy"), expected)
    np.testing.assert_array_equal(expected, squares(7) / 2 + squares(7) + 7)


def test_in_memory_outputs_cross_worker_processes_and_free_outputs_come_back(tmp_path):
    pipeline = Pipeline([Node(squares, "params:count", "squared", name="squares"),
                         Node(halves, "squared", "halved", name="halves")])
    catalog = DataCatalog(datasets={"params:count": MemoryDataset(5)})
    outputs = dask_runner(tmp_path, processes=True, is_async=True).run(pipeline, catalog)
    np.testing.assert_array_equal(outputs["halved"].load(), squares(5) / 2)


class NodeRecorder:
    def __init__(self):
        self.ran: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @hook_impl
    def after_node_run(self, node, outputs):
        with self.lock:
            self.ran.append((node.name, threading.current_thread().name))


def test_project_node_hooks_run_on_the_workers(tmp_path, monkeypatch):
    recorder = NodeRecorder()
    monkeypatch.setattr(runner_module, "settings", SimpleNamespace(HOOKS=(recorder,), DISABLE_HOOKS_FOR_PLUGINS=()))
    dask_runner(tmp_path).run(diamond(), diamond_catalog(tmp_path))
    assert sorted(name for name, _ in recorder.ran) == ["halves", "shifted", "squares", "total"]
    assert all(thread != threading.main_thread().name for _, thread in recorder.ran)


def test_a_failing_node_stops_the_run_with_its_error(tmp_path, caplog):
    pipeline = Pipeline([Node(squares, "params:count", "squared", name="squares"),
                         Node(refuse, "squared", "refused", name="refuse"),
                         Node(halves, "refused", "halved", name="halves")])
    catalog = DataCatalog(datasets={"params:count": MemoryDataset(3)})
    with pytest.raises(RuntimeError, match="this node always fails"):
        dask_runner(tmp_path).run(pipeline, catalog)
    assert "--from-nodes" in caplog.text


def test_a_dataset_that_cannot_travel_is_named(tmp_path):
    catalog = diamond_catalog(tmp_path)
    catalog["params:count"] = MemoryDataset(threading.Lock(), copy_mode="assign")
    with pytest.raises(ValueError, match=r"cannot be pickled: \['params:count'\]"):
        dask_runner(tmp_path).run(diamond(), catalog)


def test_cluster_settings_come_from_arguments_then_environment_then_conf(tmp_path, monkeypatch):
    (tmp_path / "dask").mkdir()
    (tmp_path / "dask/cluster.yml").write_text(
        "address: null\nlocal_cluster: {n_workers: 3, threads_per_worker: 1, processes: true}\n"
    )
    monkeypatch.delenv(ADDRESS_VARIABLE, raising=False)
    assert DaskRunner(conf_source=str(tmp_path), processes=False).cluster_options() == (
        None, {"n_workers": 3, "threads_per_worker": 1, "processes": False}
    )
    monkeypatch.setenv(ADDRESS_VARIABLE, "tcp://scheduler:8786")
    assert DaskRunner(conf_source=str(tmp_path)).cluster_options()[0] == "tcp://scheduler:8786"
    assert DaskRunner(conf_source=str(tmp_path), address="tcp://other:8786").cluster_options()[0] == "tcp://other:8786"


def test_an_unknown_cluster_option_is_named(tmp_path):
    (tmp_path / "dask").mkdir()
    (tmp_path / "dask/cluster.yml").write_text("local_cluster: {workers: 2}\n")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['workers'\]"):
        DaskRunner(conf_source=str(tmp_path)).cluster_options()
