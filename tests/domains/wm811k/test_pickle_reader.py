"""The restricted unpickler on wafer tables pickled by today's pandas (3.x, built here) and on
the real pandas 2.x files of ../shared/data/wm811k: each global allowed for pandas 3 is
needed by a plain table and loads, and what abuses it, or names anything else, is refused
with the file and the global."""

import contextlib
import io
import os
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from irl_inr.domains.wm811k.conversion import (
    ALLOWED_GLOBALS,
    RefusedGlobalError,
    WaferUnpickler,
    convert_pickle,
    fetched_memo_keys,
    read_converted,
    read_wafer_frame,
)
from tests.domains.wm811k.wafers import disk_map, label_cell

# Allowed for pandas 3's ``str`` dtype (with pyarrow: Arrow strings; without: Python strings).
PANDAS3_GLOBALS = {
    ("pandas", "StringDtype"),
    ("pandas.arrays", "ArrowStringArray"),
    ("pyarrow.lib", "type_for_alias"),
    ("pyarrow.lib", "py_buffer"),
    ("pyarrow.lib", "_restore_array"),
    ("pandas.arrays", "StringArray"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
}
# What the published file (pandas 0.x, Python 2) and pandas 1.x/2.x copies name, as before.
EARLIER_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"), ("pandas.core.frame", "DataFrame"),
    ("pandas", "DataFrame"), ("pandas.core.internals", "BlockManager"), ("pandas.core.internals.managers", "BlockManager"),
    ("pandas._libs.internals", "_unpickle_block"), ("pandas.core.internals.blocks", "new_block"),
    ("pandas.core.indexes.base", "_new_Index"), ("pandas.core.indexes.base", "Index"), ("pandas", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"), ("pandas", "RangeIndex"), ("pandas.core.indexes.numeric", "Int64Index"),
    ("pandas.indexes.base", "_new_Index"), ("pandas.indexes.base", "Index"), ("pandas.indexes.range", "RangeIndex"),
    ("pandas.indexes.numeric", "Int64Index"), ("builtins", "slice"), ("__builtin__", "slice"),
}
ARROW_ONLY = {("pandas.arrays", "ArrowStringArray"), ("pyarrow.lib", "type_for_alias"), ("pyarrow.lib", "py_buffer"),
              ("pyarrow.lib", "_restore_array")}
PYTHON_ONLY = {("pandas.arrays", "StringArray"), ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked")}
FAILURES = ["Center", None, "Edge-Loc", "Scratch"]


@contextlib.contextmanager
def _string_options(strings: str):
    """pandas options under which a new DataFrame infers ``strings``: "arrow" (pandas 3's
    default with pyarrow), "python" (its default without pyarrow) or "object" (inference
    off, as before pandas 3; the option is deprecated, its warning expected here)."""
    if strings == "arrow":
        yield
    elif strings == "python":
        with pd.option_context("mode.string_storage", "python"):
            yield
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The 'future.infer_string' option is deprecated")
            with pd.option_context("future.infer_string", False):
                yield


def pandas3_table(strings: str, row_ids: bool) -> pd.DataFrame:
    """A wafer table as a pandas 3 user builds it, from Python lists (so column labels,
    ``lotName`` and the flat ``failureType`` are inferred as text), with a RangeIndex or
    int64 row ids.  ``trianTestLabel`` keeps the published nested arrays."""
    count = len(FAILURES)
    index = pd.Index(500 + 3 * np.arange(count), dtype=np.int64) if row_ids else None
    cells = np.empty(count, dtype=object)
    cells[:] = [label_cell("Training" if row % 2 else "Test") for row in range(count)]
    maps = np.empty(count, dtype=object)
    maps[:] = [disk_map(20 + row, 22, defect=(5 + row, 9)) for row in range(count)]
    with _string_options(strings):
        return pd.DataFrame(
            {
                "waferMap": maps,
                "dieSize": [600.0 + row for row in range(count)],
                "lotName": [f"lot{row // 2}" for row in range(count)],
                "waferIndex": [float(row + 1) for row in range(count)],
                "trianTestLabel": cells,
                "failureType": FAILURES,
            },
            index=index,
        )


def named_globals(path) -> set[tuple[str, str]]:
    """The globals a pickle names, as the restricted unpickler resolves them while loading it."""

    class Recording(WaferUnpickler):
        def find_class(self, module, name):
            names.add((module, name))
            return super().find_class(module, name)

    names: set[tuple[str, str]] = set()
    with open(path, "rb") as handle:
        fetched = fetched_memo_keys(handle)
        handle.seek(0)
        Recording(handle, path, fetched).load()
    return names


def _strings_needing(name: tuple[str, str]) -> str:
    return "python" if name in PYTHON_ONLY else "arrow"


@pytest.mark.parametrize("name", sorted(PANDAS3_GLOBALS), ids=".".join)
def test_each_global_allowed_for_pandas3_is_named_by_a_plain_table_and_loads(tmp_path, name):
    frame = pandas3_table(_strings_needing(name), row_ids=False)
    path = tmp_path / "pandas3.pkl"
    frame.to_pickle(path)
    assert name in named_globals(path)
    loaded = read_wafer_frame(path)
    assert loaded.columns.tolist() == frame.columns.tolist() and str(loaded.columns.dtype) == "str"
    assert loaded["lotName"].tolist() == frame["lotName"].tolist()


def test_the_allow_list_is_exactly_the_reviewed_one():
    """A global added to ALLOWED_GLOBALS needs a reason there and a test here."""
    assert set(ALLOWED_GLOBALS) == EARLIER_GLOBALS | PANDAS3_GLOBALS


def test_pandas3_tables_need_nothing_beyond_the_allowed_globals_and_use_every_new_one(tmp_path):
    named: set[tuple[str, str]] = set()
    for strings in ("arrow", "python", "object"):
        for row_ids in (False, True):
            path = tmp_path / f"{strings}_{row_ids}.pkl"
            pandas3_table(strings, row_ids).to_pickle(path)
            named |= named_globals(path)  # a global outside the list would raise here
    assert named - EARLIER_GLOBALS == PANDAS3_GLOBALS


@pytest.mark.parametrize("strings", ["arrow", "python", "object"])
@pytest.mark.parametrize("row_ids", [False, True], ids=["range_index", "row_ids"])
def test_a_pandas3_table_converts_with_its_labels_lots_and_row_ids(tmp_path, strings, row_ids):
    frame = pandas3_table(strings, row_ids)
    path = tmp_path / "LSWMD.pkl"
    frame.to_pickle(path)
    names = named_globals(path)
    expected_string_globals = {"arrow": ARROW_ONLY, "python": PYTHON_ONLY, "object": set()}[strings]
    assert names & (ARROW_ONLY | PYTHON_ONLY) == expected_string_globals
    convert_pickle(path, tmp_path / "w.parquet")
    table, maps = read_converted(tmp_path / "w.parquet")
    assert table["failure_type"].tolist()[::2] == ["Center", "Edge-Loc"] and table["failure_type"].isna().tolist() == [
        False, True, False, False
    ]
    assert table["published_split"].tolist() == ["Test", "Training", "Test", "Training"]
    assert table["lot_name"].tolist() == ["lot0", "lot0", "lot1", "lot1"]
    assert table["row_id"].tolist() == (frame.index.tolist() if row_ids else [0, 1, 2, 3])
    assert all(np.array_equal(a, b) for a, b in zip(frame["waferMap"], maps))


@pytest.mark.parametrize("name", ["LSWMD_sample.pkl", "LSWMD_lots_2k.pkl"])
@pytest.mark.parametrize("copy", ["repickled", "repickled_with_str_columns"])
def test_the_real_files_and_their_pandas3_copies_convert_alike(shared_data, tmp_path, name, copy):
    """The shared files were pickled by pandas 2.x; each converts, and a pandas 3 copy of it
    (object columns kept, or turned into pandas 3's ``str``) converts to the same table."""
    source = shared_data / "wm811k" / name
    assert named_globals(source) <= EARLIER_GLOBALS  # pandas 2.x, object columns: nothing new needed
    convert_pickle(source, tmp_path / "original.parquet")
    frame = pd.read_pickle(source)  # trusted: a real file, the reference here
    if copy == "repickled_with_str_columns":
        frame.columns = pd.Index(frame.columns.tolist(), dtype="str")
        frame["lotName"] = frame["lotName"].astype("str")
    path = tmp_path / name
    frame.to_pickle(path)
    assert (("pandas.arrays", "ArrowStringArray") in named_globals(path)) == (copy == "repickled_with_str_columns")
    convert_pickle(path, tmp_path / "copy.parquet")
    original_table, original_maps = read_converted(tmp_path / "original.parquet")
    table, maps = read_converted(tmp_path / "copy.parquet")
    pd.testing.assert_frame_equal(table, original_table)
    assert len(maps) == len(original_maps) and all(np.array_equal(a, b) for a, b in zip(maps, original_maps))


class _Call:
    """Pickles as ``function(*args)``: how a crafted file makes the unpickler call anything."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _unchecked_string_array(offsets: list[int], data: bytes, dtype=pa.large_string()) -> pa.Array:
    """A string array built from raw buffers as pyarrow's unpickling builds it: unchecked."""
    width = np.int64 if dtype == pa.large_string() else np.int32
    buffers = [None, pa.py_buffer(np.array(offsets, dtype=width).tobytes()), pa.py_buffer(data)]
    return pa.lib._restore_array((dtype, len(offsets) - 1, 0, 0, buffers, [], None))


def _string_dtype_table(storage: str) -> pd.DataFrame:
    frame = pandas3_table("object", row_ids=False)
    frame["lotName"] = frame["lotName"].astype(pd.StringDtype(storage))  # pd.NA for missing values
    return frame


ABUSES = {
    "an_int_arrow_array": (lambda: pa.array([1, 2]), r"refused pyarrow\.lib\.type_for_alias\('int64'\)"),
    "an_arrow_type_alias_other_than_strings": (
        lambda: _Call(pa.lib.type_for_alias, "binary"), r"refused pyarrow\.lib\.type_for_alias\('binary'\)"
    ),
    "an_arrow_buffer_over_an_ndarray": (
        lambda: _Call(pa.lib.py_buffer, np.zeros(4)), r"refused pyarrow\.lib\.py_buffer of a ndarray"
    ),
    "offsets_past_the_data": (
        lambda: _unchecked_string_array([0, 2, 1 << 40], b"abc"),
        r"refused pyarrow\.lib\._restore_array of an invalid string array: .*out of bounds",
    ),
    "invalid_utf8": (
        lambda: _unchecked_string_array([0, 2], b"\xff\xfe", pa.string()),
        r"refused pyarrow\.lib\._restore_array of an invalid string array: Invalid UTF8",
    ),
    "a_string_array_without_its_buffers": (
        lambda: _Call(pa.lib._restore_array, (pa.large_string(), 2, 0, 0, [None], [], None)),
        r"refused pyarrow\.lib\._restore_array: a string array has 3 buffers",
    ),
    "the_ndarray_helper_on_another_class": (
        lambda: _Call(getattr(pd._libs.arrays, "__pyx_unpickle_NDArrayBacked"), pd.arrays.ArrowStringArray, 0, None),
        r"refused pandas\._libs\.arrays\.__pyx_unpickle_NDArrayBacked of .*ArrowStringArray.*: StringArray only",
    ),
    "another_pyarrow_function": (
        lambda: pa.chunked_array([["a"]]), r"refused to load the global pyarrow\.lib\.chunked_array"
    ),
    "an_arrow_dtype_column": (
        lambda: pandas3_table("object", False).astype({"lotName": pd.ArrowDtype(pa.string())}),
        r"refused to load the global pandas\.arrays\.ArrowExtensionArray",
    ),
    "a_string_dtype_column_with_pd_na": (
        lambda: _string_dtype_table("python"), r"refused to load the global pandas\.NA"
    ),
}


@pytest.mark.parametrize("abuse", list(ABUSES))
def test_what_abuses_the_new_globals_is_refused_naming_the_file_and_global(tmp_path, abuse):
    build, message = ABUSES[abuse]
    path = tmp_path / "crafted.pkl"
    path.write_bytes(pickle.dumps(build(), protocol=5))
    with pytest.raises(RefusedGlobalError, match=rf"crafted\.pkl: {message}"):
        read_wafer_frame(path)


@pytest.mark.parametrize("strings", ["arrow", "python"])
def test_a_pandas3_table_carrying_a_payload_is_refused_before_it_runs(tmp_path, strings):
    frame = pandas3_table(strings, row_ids=False)
    marker = tmp_path / "the_payload_ran"
    frame.at[2, "waferMap"] = _Call(os.mkdir, str(marker))
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(frame, protocol=5))
    with pytest.raises(RefusedGlobalError, match=r"evil\.pkl: refused to load the global posix\.mkdir"):
        read_wafer_frame(path)
    assert not marker.exists()


def _sets_an_attribute_of(module: str, name: str, attribute: str) -> bytes:
    """Protocol 2: the global ``module.name``, then BUILD with the state (None, {attribute: "set"})."""
    def text(value: str) -> bytes:
        return b"X" + len(value).to_bytes(4, "little") + value.encode()

    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"N}" + text(attribute) + text("set") + b"s\x86b."


@pytest.mark.parametrize(
    ("module", "name"),
    [("pandas.core.indexes.base", "Index"), ("pandas.arrays", "ArrowStringArray"), ("pandas", "StringDtype"),
     ("pyarrow.lib", "type_for_alias"), ("pandas.core.indexes.base", "_new_Index")],
    ids=".".join,
)
def test_a_pickle_cannot_set_attributes_of_an_allowed_global(tmp_path, module, name):
    """Setting, say, pandas.Index.is_unique would change the class for the whole process."""
    path = tmp_path / "crafted.pkl"
    path.write_bytes(_sets_an_attribute_of(module, name, "irl_inr_marker"))
    target = WaferUnpickler(io.BytesIO(), path, frozenset()).find_class(module, name)
    try:
        with pytest.raises(RefusedGlobalError, match=rf"crafted\.pkl: refused to set attributes of the global "
                                                     rf"{re.escape(module)}\.{name}: a pickle may only fill in"):
            read_wafer_frame(path)
        assert not hasattr(target, "irl_inr_marker")
    finally:
        if hasattr(target, "irl_inr_marker"):
            delattr(target, "irl_inr_marker")
