import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError

from irl_inr.domains.wm811k.datasets import WaferPickleDataset
from irl_inr.domains.wm811k.conversion import converted_metadata
from tests.domains.wm811k.wafers import wafer_frame, write_python2_style_pickle

_EDGE = 2**20  # a MiB


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

    monkeypatch.setattr("irl_inr.domains.wm811k.conversion.read_wafer_frame", no_unpickling)
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


def _edit_a_good_die_in_the_middle(path: Path, maps: list[np.ndarray]) -> tuple[int, int, int]:
    """Turn the good die nearest the middle of the pickle into a defective one, in place,
    keeping the file's size and modification time.  Returns (wafer, row, column) edited."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    starts, position = [], 0
    for wafer_map in maps:  # each map's bytes, in row order, as the pickle holds them
        position = data.index(wafer_map.tobytes(), position)
        starts.append(position)
        position += wafer_map.size
    wafer = max(index for index, start in enumerate(starts) if start <= len(data) // 2)
    flat = next(i for i in range(len(data) // 2 - starts[wafer], maps[wafer].size) if maps[wafer].flat[i] == 1)
    offset = starts[wafer] + flat
    assert _EDGE < offset < len(data) - _EDGE  # where hashing only the first and last MiB was blind
    data[offset] = 2
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    return (wafer, *divmod(flat, maps[wafer].shape[1]))


def test_a_large_pickle_edited_in_the_middle_with_the_same_size_and_mtime_is_converted_again(tmp_path):
    frame = wafer_frame(["Center", "Loc", "Donut", "Scratch"] * 10, shapes=[(240, 240)] * 40)
    pickle_path = tmp_path / "LSWMD.pkl"
    frame.to_pickle(pickle_path)
    assert pickle_path.stat().st_size > 2 * 2**20
    dataset = WaferPickleDataset(str(pickle_path), str(tmp_path / "w.parquet"))
    before = dataset.load()["maps"]
    wafer, row, column = _edit_a_good_die_in_the_middle(pickle_path, list(frame["waferMap"]))
    after = dataset.load()["maps"]
    assert before[wafer][row, column] == 1 and after[wafer][row, column] == 2
    changed = [index for index, (a, b) in enumerate(zip(before, after)) if not np.array_equal(a, b)]
    assert changed == [wafer] and int((before[wafer] != after[wafer]).sum()) == 1
    recorded = converted_metadata(tmp_path / "w.parquet")
    assert recorded["sha256"] == hashlib.sha256(pickle_path.read_bytes()).hexdigest()


class _MakesADirectory:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


def _truncated(frame, tmp_path: Path) -> bytes:
    data = pickle.dumps(frame, protocol=5)
    return data[: len(data) * 2 // 3]


def _refused(frame, tmp_path: Path) -> bytes:
    frame = frame.copy()
    frame.at[frame.index[1], "waferMap"] = _MakesADirectory(tmp_path / "the_payload_ran")
    return pickle.dumps(frame, protocol=5)


def _damaged_row(frame, tmp_path: Path) -> bytes:
    frame = frame.copy()
    frame.at[frame.index[1], "waferMap"] = np.full((4, 4), 7, dtype=np.uint8)
    return pickle.dumps(frame, protocol=5)


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (_truncated, "not a readable WM-811K pickle"),
        (_refused, "refused to load the global posix.mkdir"),
        (_damaged_row, "row 1007: waferMap holds values outside"),
    ],
    ids=["truncated", "refused", "damaged_row"],
)
def test_a_failed_conversion_is_one_error_naming_the_file_and_leaves_the_earlier_cache(
    tmp_path, monkeypatch, spoil, problem
):
    frame = wafer_frame(["Center", "Loc", "Donut"])
    pickle_path = tmp_path / "LSWMD.pkl"
    frame.to_pickle(pickle_path)
    good = pickle_path.read_bytes()
    converted = tmp_path / "converted" / "w.parquet"
    dataset = WaferPickleDataset(str(pickle_path), str(converted), rows_per_group=1)
    first = dataset.load()
    cache, cache_mtime = converted.read_bytes(), converted.stat().st_mtime_ns
    listing = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))

    pickle_path.write_bytes(spoil(frame, tmp_path))
    with pytest.raises(DatasetError) as error:
        dataset.load()
    message = str(error.value)
    assert message.startswith(f"{pickle_path}: ") and problem in message and "\n" not in message
    assert converted.read_bytes() == cache and converted.stat().st_mtime_ns == cache_mtime
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == listing  # no payload, no temp

    pickle_path.write_bytes(good)  # the earlier cache is still the good file's, and is reused
    monkeypatch.setattr("irl_inr.domains.wm811k.conversion.read_wafer_frame", _never_called)
    again = dataset.load()
    assert all(np.array_equal(a, b) for a, b in zip(first["maps"], again["maps"]))


def _never_called(*args, **kwargs):
    raise AssertionError("the pickle was read again")
