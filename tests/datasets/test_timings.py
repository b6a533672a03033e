"""The timings-split datasets: DVC-tracked files hold no wall-clock times, nodes still get them."""

import json

import numpy as np
import pandas as pd

from irl_inr.datasets.timings import TimingsSplitCSVDataset, TimingsSplitJSONDataset

HISTORY = pd.DataFrame({"epoch": [1, 2], "total": [0.5, 0.25], "seconds": [1.5, 1.25]})


def test_csv_keeps_timings_out_of_the_tracked_file_and_joins_them_back(tmp_path):
    dataset = TimingsSplitCSVDataset(str(tmp_path / "history.csv"), timing_columns=["seconds"])
    dataset.save(HISTORY)
    assert (tmp_path / "history.csv").read_text().splitlines() == ["epoch,total", "1,0.5", "2,0.25"]
    assert (tmp_path / "history_timings.csv").read_text().splitlines() == ["seconds", "1.5", "1.25"]
    pd.testing.assert_frame_equal(dataset.load(), HISTORY)


def test_csv_without_its_timings_file_loads_nan_timings(tmp_path):
    dataset = TimingsSplitCSVDataset(str(tmp_path / "history.csv"), timing_columns=["seconds"])
    dataset.save(HISTORY)
    (tmp_path / "history_timings.csv").unlink()
    loaded = dataset.load()
    pd.testing.assert_frame_equal(loaded.drop(columns="seconds"), HISTORY.drop(columns="seconds"))
    assert np.isnan(loaded["seconds"]).all()


def test_json_moves_every_key_ending_in_seconds_at_any_depth(tmp_path):
    metrics = {"acc": 0.9, "train_seconds": 3.0, "scan": {"nmi": 0.8, "train_seconds": 2.0}, "kmeans": {"ari": 0.1}}
    dataset = TimingsSplitJSONDataset(str(tmp_path / "metrics.json"))
    dataset.save(metrics)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"acc": 0.9, "scan": {"nmi": 0.8},
                                                                  "kmeans": {"ari": 0.1}}
    assert json.loads((tmp_path / "metrics_timings.json").read_text()) == {"train_seconds": 3.0,
                                                                          "scan": {"train_seconds": 2.0}}
    assert dataset.load() == metrics
    (tmp_path / "metrics_timings.json").unlink()
    assert dataset.load() == {"acc": 0.9, "scan": {"nmi": 0.8}, "kmeans": {"ari": 0.1}}

