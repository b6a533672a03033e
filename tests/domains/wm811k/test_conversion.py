import hashlib
import os
import pickle

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from irl_inr.domains.wm811k.conversion import (
    RefusedGlobalError,
    WaferFormatError,
    convert_pickle,
    convert_unless_current,
    converted_metadata,
    fetched_memo_keys,
    file_sha256,
    is_current,
    read_converted,
    read_wafer_frame,
)
from tests.domains.wm811k.wafers import disk_map, python2_style_pickle, wafer_frame, write_python2_style_pickle

SAMPLE_LABELS = {
    "Edge-Ring": 69, "Edge-Loc": 43, "Center": 42, "Loc": 26, "Scratch": 9, "Random": 5, "Donut": 5, "Near-full": 1
}
LOTS_2K_LABELS = {
    "Center": 354, "Edge-Loc": 353, "none": 333, "Loc": 318, "Edge-Ring": 245, "Scratch": 236, "Random": 79,
    "Near-full": 24, "Donut": 18,
}


def test_the_real_sample_converts_with_its_labels_splits_and_row_ids(shared_data, tmp_path):
    source = shared_data / "wm811k" / "LSWMD_sample.pkl"
    assert convert_pickle(source, tmp_path / "w.parquet", rows_per_group=64) == 200
    table, maps = read_converted(tmp_path / "w.parquet")
    assert table["failure_type"].value_counts().to_dict() == SAMPLE_LABELS
    assert table["published_split"].value_counts().to_dict() == {"Training": 132, "Test": 68}
    assert table["row_id"].iloc[0] == 803844 and table["lot_name"].iloc[0] == "lot47232"
    assert maps[0].shape == (33, 35) and maps[0].dtype == np.uint8 and set(np.unique(maps[0])) <= {0, 1, 2}
    assert (table["map_height"].to_numpy() == [m.shape[0] for m in maps]).all()
    assert pq.ParquetFile(tmp_path / "w.parquet").num_row_groups == 4
    frame = pd.read_pickle(source)  # trusted here: the reference for the maps
    assert all(np.array_equal(a, b) for a, b in zip(frame["waferMap"], maps))


def test_the_real_lots_file_converts_with_its_published_counts(shared_data, tmp_path):
    """Counts from ../shared/data/PROVENANCE.md: 1,960 wafers of 890 lots, 21 map shapes,
    a plain RangeIndex (the original row ids are not known)."""
    source = shared_data / "wm811k" / "LSWMD_lots_2k.pkl"
    assert convert_pickle(source, tmp_path / "w.parquet") == 1960
    table, maps = read_converted(tmp_path / "w.parquet")
    assert table["failure_type"].value_counts().to_dict() == LOTS_2K_LABELS
    assert table["lot_name"].nunique() == 890 and len({m.shape for m in maps}) == 21
    assert table["row_id"].tolist() == list(range(1960))
    assert all(m.dtype == np.uint8 and m.max() <= 2 for m in maps)


def test_a_python2_style_pickle_reads_like_the_original(tmp_path):
    frame = wafer_frame(["Center", None, "Edge-Loc", "none"], splits=["Training", "Test", None, "Training"])
    path = write_python2_style_pickle(frame, tmp_path / "LSWMD.pkl")
    assert b"pandas.indexes.base" in path.read_bytes() and b"numpy.core.multiarray" in path.read_bytes()
    convert_pickle(path, tmp_path / "w.parquet")
    table, maps = read_converted(tmp_path / "w.parquet")
    assert table["failure_type"].tolist()[::2] == ["Center", "Edge-Loc"] and table["failure_type"].isna().tolist() == [
        False, True, False, False
    ]
    assert table["published_split"].tolist()[:2] == ["Training", "Test"] and pd.isna(table["published_split"][2])
    assert table["row_id"].tolist() == frame.index.tolist()
    assert all(np.array_equal(a, b) for a, b in zip(frame["waferMap"], maps))


@pytest.mark.parametrize(
    ("range_index", "spelling"),
    [
        (False, b"pandas.indexes.numeric\nInt64Index\n"),  # pandas 0.x, as in the published file
        (False, b"pandas.core.indexes.numeric\nInt64Index\n"),  # pandas 1.x
        (True, b"pandas.indexes.range\nRangeIndex\n"),
        (True, b"pandas.core.indexes.range\nRangeIndex\n"),  # pandas 1.x and 2.x
    ],
)
def test_the_index_classes_of_older_pandas_read(tmp_path, range_index, spelling):
    frame = wafer_frame(["Center", "Loc", "Edge-Ring"])
    frame = frame.reset_index(drop=True) if range_index else frame
    data = python2_style_pickle(frame)
    today = b"pandas\nRangeIndex\n" if range_index else b"pandas.indexes.base\nIndex\n"
    assert data.count(b"c" + today) == 1
    path = tmp_path / "LSWMD.pkl"
    path.write_bytes(data.replace(b"c" + today, b"c" + spelling))
    loaded = read_wafer_frame(path)
    assert loaded.index.tolist() == frame.index.tolist() and loaded.index.dtype == np.int64
    assert isinstance(loaded.index, pd.RangeIndex) == range_index


def test_a_copy_repickled_by_todays_pandas_with_a_range_index_reads(tmp_path):
    frame = wafer_frame(["Center", "Edge-Loc"]).reset_index(drop=True)
    path = tmp_path / "LSWMD.pkl"
    frame.to_pickle(path)
    assert read_wafer_frame(path)["waferMap"].map(np.sum).tolist() == frame["waferMap"].map(np.sum).tolist()


def test_only_memo_entries_read_back_are_kept(tmp_path):
    """Python 2 memoised every array's raw bytes; the unpickler keeps only what is fetched."""
    frame = wafer_frame(["Center"] * 6, shapes=[(40, 40)] * 6)
    data = python2_style_pickle(frame)
    path = tmp_path / "LSWMD.pkl"
    path.write_bytes(data)
    with open(path, "rb") as handle:
        fetched = fetched_memo_keys(handle)
    assert 0 < len(fetched) < 50  # the globals and a few shared objects, not one per wafer
    assert read_wafer_frame(path)["waferMap"].map(np.sum).tolist() == frame["waferMap"].map(np.sum).tolist()


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_pickle_naming_another_global_is_refused_with_the_file_and_global(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_RunsCode(), protocol=2))
    with pytest.raises(RefusedGlobalError, match=r"evil.pkl: refused to load the global posix.system"):
        read_wafer_frame(path)
    assert not (tmp_path / "w.parquet").exists()


def test_a_damaged_pickle_names_the_file(tmp_path):
    path = tmp_path / "LSWMD.pkl"
    path.write_bytes(python2_style_pickle(wafer_frame(["Center"]))[:-40])
    with pytest.raises(WaferFormatError, match="LSWMD.pkl: not a readable WM-811K pickle"):
        read_wafer_frame(path)


def test_a_missing_column_is_an_error_listing_what_was_found(tmp_path):
    path = write_python2_style_pickle(wafer_frame(["Center"]).drop(columns="failureType"), tmp_path / "LSWMD.pkl")
    with pytest.raises(WaferFormatError, match=r"missing column\(s\) \['failureType'\]; found"):
        read_wafer_frame(path)


def test_a_pickle_of_something_else_is_refused(tmp_path):
    path = tmp_path / "LSWMD.pkl"
    path.write_bytes(pickle.dumps(np.zeros(3), protocol=5))
    with pytest.raises(WaferFormatError, match="expected a pickled pandas DataFrame, found ndarray"):
        read_wafer_frame(path)


@pytest.mark.parametrize(
    ("bad_map", "problem"),
    [
        (np.full((5, 5), 3, dtype=np.uint8), r"values outside \{0, 1, 2\}: \[3\]"),
        (np.where(disk_map(6, 6) > 0, 1.0, np.nan), r"NaN value"),
        (np.ones(9, dtype=np.uint8), "must be a 2-D array"),
        (np.array([["a"]]), "must be numeric"),
    ],
)
def test_a_bad_map_is_an_error_naming_the_file_and_row_id(tmp_path, bad_map, problem):
    frame = wafer_frame(["Center", "Loc"])
    frame.at[frame.index[1], "waferMap"] = bad_map
    path = write_python2_style_pickle(frame, tmp_path / "LSWMD.pkl")
    with pytest.raises(WaferFormatError, match=rf"LSWMD.pkl: row {frame.index[1]}: waferMap .*{problem}"):
        convert_pickle(path, tmp_path / "w.parquet")
    assert not (tmp_path / "w.parquet").exists()


def test_a_label_cell_with_several_values_is_an_error_naming_the_row(tmp_path):
    frame = wafer_frame(["Center", "Loc"])
    frame.at[frame.index[0], "failureType"] = np.array([["Center", "Loc"]])
    path = write_python2_style_pickle(frame, tmp_path / "LSWMD.pkl")
    with pytest.raises(WaferFormatError, match=rf"row {frame.index[0]}: failureType holds 2 values"):
        convert_pickle(path, tmp_path / "w.parquet")


def test_empty_maps_are_kept_as_empty(tmp_path):
    frame = wafer_frame(["Center", "Loc"])
    frame.at[frame.index[0], "waferMap"] = np.zeros((0, 0), dtype=np.uint8)
    convert_pickle(write_python2_style_pickle(frame, tmp_path / "LSWMD.pkl"), tmp_path / "w.parquet")
    _, maps = read_converted(tmp_path / "w.parquet")
    assert maps[0].shape == (0, 0) and maps[1].shape == frame["waferMap"].iloc[1].shape


def test_the_conversion_is_current_until_the_pickle_changes(tmp_path):
    path = write_python2_style_pickle(wafer_frame(["Center"]), tmp_path / "LSWMD.pkl")
    converted = tmp_path / "w.parquet"
    assert not is_current(path, converted)
    convert_pickle(path, converted)
    assert is_current(path, converted)
    os.utime(path, ns=(1, 1))  # touched, same bytes: the SHA-256 still matches
    assert is_current(path, converted)
    write_python2_style_pickle(wafer_frame(["Loc"]), path)
    assert not is_current(path, converted)


def test_another_pickle_of_the_same_size_and_mtime_is_converted_again(tmp_path):
    frame = wafer_frame(["Center", "Loc"])
    first = write_python2_style_pickle(frame, tmp_path / "LSWMD.pkl")
    converted = tmp_path / "w.parquet"
    convert_pickle(first, converted)
    stat = first.stat()
    write_python2_style_pickle(wafer_frame(["Random", "Loc"]), first)  # "Random": as long as "Center"
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert first.stat().st_size == stat.st_size and first.stat().st_mtime_ns == stat.st_mtime_ns
    assert not is_current(first, converted)
    copy = write_python2_style_pickle(frame, tmp_path / "copy.pkl")  # the same bytes at another path
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    convert_pickle(copy, converted)
    assert is_current(copy, converted) and not is_current(first, converted)


def test_a_failed_conversion_keeps_the_earlier_cache(tmp_path):
    converted = tmp_path / "w.parquet"
    good = write_python2_style_pickle(wafer_frame(["Center", "Loc", "Donut"]), tmp_path / "good.pkl")
    convert_pickle(good, converted)
    before = converted.read_bytes()
    frame = wafer_frame(["Center", "Loc", "Donut"])
    frame.at[frame.index[2], "waferMap"] = np.full((4, 4), 7, dtype=np.uint8)
    bad = write_python2_style_pickle(frame, tmp_path / "bad.pkl")
    with pytest.raises(WaferFormatError, match=rf"bad.pkl: row {frame.index[2]}: waferMap holds values outside"):
        convert_pickle(bad, converted, rows_per_group=1)  # two row groups were written before the bad one
    assert converted.read_bytes() == before and is_current(good, converted)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.pkl", "good.pkl", "w.parquet"]


def test_the_parquet_records_the_whole_files_sha256(tmp_path):
    path = write_python2_style_pickle(wafer_frame(["Center", "Loc"]), tmp_path / "LSWMD.pkl")
    convert_pickle(path, tmp_path / "w.parquet")
    recorded = converted_metadata(tmp_path / "w.parquet")
    assert recorded["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() == file_sha256(path)
    assert recorded["size"] == path.stat().st_size and recorded["source"] == str(path)


def test_a_pickle_of_another_size_is_stale_without_being_hashed(tmp_path, monkeypatch):
    path = write_python2_style_pickle(wafer_frame(["Center"]), tmp_path / "LSWMD.pkl")
    convert_pickle(path, tmp_path / "w.parquet")
    write_python2_style_pickle(wafer_frame(["Center", "Loc"]), path)

    def no_hashing(*args):
        raise AssertionError("hashed although the size already differs")

    monkeypatch.setattr("irl_inr.domains.wm811k.conversion.file_sha256", no_hashing)
    assert not is_current(path, tmp_path / "w.parquet")


def test_the_same_content_reuses_the_conversion_wherever_it_lies_and_whenever_touched(tmp_path):
    frame = wafer_frame(["Center", "Loc"])
    first = write_python2_style_pickle(frame, tmp_path / "LSWMD.pkl")
    converted = tmp_path / "w.parquet"
    assert convert_unless_current(first, converted) is True
    copy = write_python2_style_pickle(frame, tmp_path / "elsewhere.pkl")
    os.utime(copy, ns=(7, 7))
    assert convert_unless_current(copy, converted) is False and convert_unless_current(first, converted) is False
    write_python2_style_pickle(wafer_frame(["Random", "Loc"]), first)  # same size, new content
    assert convert_unless_current(first, converted) is True
    assert read_converted(converted)[0]["failure_type"].tolist() == ["Random", "Loc"]


def test_a_pickle_changed_while_being_converted_leaves_the_earlier_cache(tmp_path, monkeypatch):
    path = write_python2_style_pickle(wafer_frame(["Center", "Loc"]), tmp_path / "LSWMD.pkl")
    converted = tmp_path / "w.parquet"
    convert_pickle(path, converted)
    before = converted.read_bytes()
    write_python2_style_pickle(wafer_frame(["Donut", "Loc"]), path)

    def read_then_change(pickle_path):
        frame = read_wafer_frame(pickle_path)
        write_python2_style_pickle(wafer_frame(["Scratch", "Loc", "Loc"]), path)  # another writer, meanwhile
        return frame

    monkeypatch.setattr("irl_inr.domains.wm811k.conversion.read_wafer_frame", read_then_change)
    with pytest.raises(WaferFormatError, match=r"LSWMD.pkl: the file changed while it was being converted"):
        convert_pickle(path, converted)
    assert converted.read_bytes() == before
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["LSWMD.pkl", "w.parquet"]
