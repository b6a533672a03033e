import numpy as np
import pytest
from kedro.io.core import DatasetError

from irl_inr.datasets.wm811k import WaferPickleDataset
from tests.pipelines.wm811k.wafers import wafer_frame, write_python2_style_pickle


def test_without_the_pickle_it_says_where_to_put_it_and_where_it_is_published(tmp_path):
    dataset = WaferPickleDataset(str(tmp_path / "LSWMD.pkl"), str(tmp_path / "w.parquet"))
    with pytest.raises(DatasetError) as error:
        dataset.load()
    message = str(error.value)
    assert "data/01_raw/wm811k/LSWMD.pkl" in message and "--params wm811k_pickle=" in message
    assert "MIR lab" in message and "MIR-WM811K" in message and "Wu, Jang & Chen" in message
    assert "http" not in message
    assert not dataset.exists()


def test_the_first_load_converts_and_later_loads_read_the_parquet(tmp_path, monkeypatch):
    frame = wafer_frame(["Center", None, "Loc"])
    pickle_path = write_python2_style_pickle(frame, tmp_path / "LSWMD.pkl")
    dataset = WaferPickleDataset(str(pickle_path), str(tmp_path / "converted" / "w.parquet"), rows_per_group=2)
    first = dataset.load()
    assert first["source"] == str(pickle_path) and len(first["maps"]) == 3
    assert first["table"]["row_id"].tolist() == frame.index.tolist()

    def no_unpickling(*args, **kwargs):
        raise AssertionError("the pickle was read again")

    monkeypatch.setattr("irl_inr.datasets.wm811k.convert_pickle", no_unpickling)
    again = dataset.load()
    assert all(np.array_equal(a, b) for a, b in zip(first["maps"], again["maps"]))


def test_a_changed_pickle_is_converted_again(tmp_path):
    pickle_path = tmp_path / "LSWMD.pkl"
    dataset = WaferPickleDataset(str(pickle_path), str(tmp_path / "w.parquet"))
    write_python2_style_pickle(wafer_frame(["Center"]), pickle_path)
    assert dataset.load()["table"]["failure_type"].tolist() == ["Center"]
    write_python2_style_pickle(wafer_frame(["Scratch", "Donut"]), pickle_path)
    assert dataset.load()["table"]["failure_type"].tolist() == ["Scratch", "Donut"]


def test_a_refused_or_damaged_pickle_is_a_dataset_error_naming_it(tmp_path):
    frame = wafer_frame(["Center", "Loc"])
    frame.at[frame.index[1], "waferMap"] = np.full((4, 4), 7, dtype=np.uint8)
    pickle_path = write_python2_style_pickle(frame, tmp_path / "LSWMD.pkl")
    dataset = WaferPickleDataset(str(pickle_path), str(tmp_path / "w.parquet"))
    with pytest.raises(DatasetError, match=rf"LSWMD.pkl: row {frame.index[1]}: waferMap holds values outside"):
        dataset.load()
    assert not (tmp_path / "w.parquet").exists()


def test_the_real_sample_loads(shared_data, tmp_path):
    loaded = WaferPickleDataset(str(shared_data / "wm811k" / "LSWMD_sample.pkl"), str(tmp_path / "w.parquet")).load()
    assert len(loaded["table"]) == len(loaded["maps"]) == 200


def test_it_is_read_only(tmp_path):
    with pytest.raises(DatasetError, match="read-only"):
        WaferPickleDataset(str(tmp_path / "LSWMD.pkl"), str(tmp_path / "w.parquet")).save({"table": None})
