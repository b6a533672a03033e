"""WM-811K (``LSWMD.pkl``, MIR lab): a restricted unpickler, and a one-off conversion of
the pickle to Parquet that later runs read instead.

The dataset is published as a pickled pandas DataFrame, and a pickle runs code when it is
loaded.  :class:`WaferUnpickler` therefore resolves only the numpy and pandas globals in
:data:`ALLOWED_GLOBALS` (anything else is a :class:`RefusedGlobalError` naming the file
and the global) and is only ever given the path the user configured.  Two flavours are
accepted:

* the file as published: pickled by an old pandas under Python 2, so its byte strings
  need ``encoding="latin1"``, its indexes live in ``pandas.indexes`` (now
  ``pandas.core.indexes``) and its arrays in ``numpy.core``;
* re-pickled copies (pandas 2.x, protocol 5, ``numpy.core`` names), such as the
  200-wafer sample in ``../shared/data/wm811k``.

Memory: the file is streamed twice and never read whole.  A pickler memoises nearly
every object it writes (Python 2 every array's raw bytes, as a string, and the tuples
around them) and a plain unpickler keeps them all until the end, about as much memory
again as the maps; a first pass over the opcodes finds the few memo entries the pickle
reads back, and the unpickler keeps only those.  The Parquet file is written in row
groups, so the peak stays about one copy of the maps.

Parquet layout (one row per wafer, in file order): ``row_id`` (the DataFrame's index,
the original row), ``lot_name``, ``wafer_index``, ``die_size``, ``published_split``
(``trianTestLabel`` unwrapped, null when empty), ``failure_type`` (``failureType``
unwrapped, null = unlabelled), ``map_height``, ``map_width`` and ``die_states`` (the
map's bytes, uint8 row by row: 0 no die, 1 good die, 2 defective die).  The
schema metadata records the source file's path, size, modification time, SHA-256 of its
first and last MiB and SHA-256 of all of it (:class:`SourceKey`), so another or a changed
pickle is converted again.  The Parquet file replaces an earlier one only once the whole
conversion has succeeded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import math
import os
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.compat import pickle_compat

from irl_inr.io.atomic import write_atomically

logger = logging.getLogger(__name__)

# (module, name) as a pickle may spell it -> (module, name) where it lives now.
ALLOWED_GLOBALS: dict[tuple[str, str], tuple[str, str]] = {
    # numpy arrays, dtypes and scalars (numpy.core is numpy._core since numpy 2)
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    # the DataFrame, its block manager and blocks
    ("pandas.core.frame", "DataFrame"): ("pandas.core.frame", "DataFrame"),
    ("pandas", "DataFrame"): ("pandas.core.frame", "DataFrame"),
    ("pandas.core.internals", "BlockManager"): ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "BlockManager"): ("pandas.core.internals.managers", "BlockManager"),
    ("pandas._libs.internals", "_unpickle_block"): ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.internals.blocks", "new_block"): ("pandas._libs.internals", "_unpickle_block"),
    # indexes, under their pandas 0.x names too
    ("pandas.core.indexes.base", "_new_Index"): ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.base", "Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas", "Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"): ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas", "RangeIndex"): ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.core.indexes.numeric", "Int64Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.indexes.base", "_new_Index"): ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.indexes.base", "Index"): ("pandas.core.indexes.base", "Index"),
    ("pandas.indexes.range", "RangeIndex"): ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.indexes.numeric", "Int64Index"): ("pandas.core.indexes.base", "Index"),
    # block placements are slices
    ("builtins", "slice"): ("builtins", "slice"),
    ("__builtin__", "slice"): ("builtins", "slice"),
}

# Columns of LSWMD.pkl that the conversion reads (``trianTestLabel`` is spelt so).
REQUIRED_COLUMNS = ("waferMap", "dieSize", "lotName", "waferIndex", "trianTestLabel", "failureType")
DIE_STATES = (0, 1, 2)  # no die, good die, defective die
FORMAT_VERSION = 1
METADATA_KEY = b"irl_inr.wm811k"
_READ_BUFFER_BYTES = 1 << 20
_EDGE_BYTES = 1 << 20  # hashed at each end of a pickle for its cache key


class RefusedGlobalError(pickle.UnpicklingError):
    """The pickle names a global outside :data:`ALLOWED_GLOBALS`."""


class WaferFormatError(ValueError):
    """The file is not a WM-811K wafer table, or one of its rows is damaged."""


class _SelectiveMemo(dict):
    """The unpickler's memo, keeping only the entries the pickle reads back.

    A pickler memoises nearly every object it writes (Python 2 every array's raw bytes
    and the tuples around them), and the memo keeps them all alive to the end: for
    LSWMD.pkl about as much memory again as the file.  ``len`` counts every key ever
    assigned, as protocol 4's MEMOIZE numbers entries by it."""

    def __init__(self, fetched: frozenset[int]) -> None:
        super().__init__()
        self._fetched = fetched
        self._size = 0

    def __setitem__(self, key: int, value: Any) -> None:
        self._size = max(self._size, key + 1)
        if key in self._fetched:
            super().__setitem__(key, value)

    def __len__(self) -> int:
        return self._size


_GET_OPCODES = frozenset({"GET", "BINGET", "LONG_BINGET"})


def fetched_memo_keys(handle) -> frozenset[int]:
    """The memo keys a pickle reads back (GET opcodes), found by scanning its opcodes
    from ``handle`` without building any object."""
    return frozenset(arg for opcode, arg, _ in pickletools.genops(handle) if opcode.name in _GET_OPCODES)


class WaferUnpickler(pickle_compat.Unpickler):
    """pandas' compatibility unpickler (old block managers, moved classes) restricted to
    :data:`ALLOWED_GLOBALS`, reading Python 2 strings as latin-1 and memoising only
    ``fetched`` keys (see :func:`fetched_memo_keys`)."""

    def __init__(self, handle, path: str | os.PathLike, fetched: frozenset[int]) -> None:
        super().__init__(handle, encoding="latin1")
        self.path = Path(path)
        self.memo = _SelectiveMemo(fetched)

    def find_class(self, module: str, name: str) -> Any:
        target = ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise RefusedGlobalError(
                f"{self.path}: refused to load the global {module}.{name}: a WM-811K pickle needs only the numpy "
                f"and pandas classes in irl_inr.io.wm811k.ALLOWED_GLOBALS"
            )
        return getattr(importlib.import_module(target[0]), target[1])


def read_wafer_frame(path: str | os.PathLike) -> pd.DataFrame:
    """Unpickle the wafer DataFrame at ``path`` with :class:`WaferUnpickler`, streaming
    from the file; checks that it is a DataFrame holding :data:`REQUIRED_COLUMNS`."""
    path = Path(path)
    try:
        with open(path, "rb", buffering=_READ_BUFFER_BYTES) as handle:
            fetched = fetched_memo_keys(handle)
            handle.seek(0)
            frame = WaferUnpickler(handle, path, fetched).load()
    except RefusedGlobalError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError) as error:
        raise WaferFormatError(f"{path}: not a readable WM-811K pickle ({type(error).__name__}: {error})") from error
    if not isinstance(frame, pd.DataFrame):
        raise WaferFormatError(f"{path}: expected a pickled pandas DataFrame, found {type(frame).__name__}")
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise WaferFormatError(
            f"{path}: missing column(s) {missing}; found {[str(column) for column in frame.columns]}, "
            f"expected {list(REQUIRED_COLUMNS)}"
        )
    extra = [str(column) for column in frame.columns if column not in REQUIRED_COLUMNS]
    if extra:
        logger.info("%s: ignoring column(s) that WM-811K does not define: %s", path, extra)
    return frame


def unwrap_text(value: Any, path: Path, row_id: int, column: str) -> str | None:
    """A label cell -> its string, or None when empty.

    Accepts the published nested arrays (``array([['Edge-Loc']])``, bytes under Python
    2), an empty array (no label), plain strings, None and NaN."""
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return None
        if value.size != 1:
            raise WaferFormatError(f"{path}: row {row_id}: {column} holds {value.size} values {value.ravel()[:4]!r}")
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bytes):
        value = value.decode("latin1")
    if not isinstance(value, str):
        raise WaferFormatError(f"{path}: row {row_id}: {column} must be text, got {type(value).__name__} {value!r}")
    value = value.strip()
    return value or None


def checked_die_states(value: Any, path: Path, row_id: int) -> np.ndarray:
    """A ``waferMap`` cell -> uint8 (H, W) with values in {0, 1, 2}; errors name the row."""
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        shape = getattr(value, "shape", None)
        raise WaferFormatError(
            f"{path}: row {row_id}: waferMap must be a 2-D array, got {type(value).__name__} of shape {shape}"
        )
    if value.dtype.kind not in "biuf":
        raise WaferFormatError(f"{path}: row {row_id}: waferMap must be numeric, got dtype {value.dtype}")
    if value.size == 0:
        return value.astype(np.uint8)
    if value.dtype.kind == "f" and np.isnan(value).any():
        raise WaferFormatError(f"{path}: row {row_id}: waferMap holds {int(np.isnan(value).sum())} NaN value(s)")
    if value.dtype == np.uint8 and value.max() <= 2:
        return value
    outside = ~np.isin(value, DIE_STATES)
    if outside.any():
        raise WaferFormatError(
            f"{path}: row {row_id}: waferMap holds values outside {{0, 1, 2}}: {np.unique(value[outside])[:5].tolist()}"
        )
    return value.astype(np.uint8)


def _number(value: Any, path: Path, row_id: int, column: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise WaferFormatError(f"{path}: row {row_id}: {column} must be a number, got {value!r}") from error


def _row_id(label: Any, path: Path) -> int:
    try:
        return int(label)
    except (TypeError, ValueError) as error:
        raise WaferFormatError(f"{path}: the index must hold integer row ids, found {label!r}") from error


SCHEMA = pa.schema(
    [
        ("row_id", pa.int64()),
        ("lot_name", pa.string()),
        ("wafer_index", pa.float64()),
        ("die_size", pa.float64()),
        ("published_split", pa.string()),
        ("failure_type", pa.string()),
        ("map_height", pa.int32()),
        ("map_width", pa.int32()),
        ("die_states", pa.large_binary()),
    ]
)


def _row_group(frame: pd.DataFrame, path: Path) -> pa.Table:
    """Rows of the pickled frame -> one Parquet row group (checked, maps flattened)."""
    columns: dict[str, list] = {name: [] for name in SCHEMA.names if name != "die_states"}
    maps = []
    for label, wafer_map, die_size, lot_name, wafer_index, split, failure in zip(
        frame.index, *(frame[column].to_numpy() for column in REQUIRED_COLUMNS)
    ):
        row_id = _row_id(label, path)
        states = checked_die_states(wafer_map, path, row_id)
        columns["row_id"].append(row_id)
        columns["lot_name"].append(unwrap_text(lot_name, path, row_id, "lotName"))
        columns["wafer_index"].append(_number(wafer_index, path, row_id, "waferIndex"))
        columns["die_size"].append(_number(die_size, path, row_id, "dieSize"))
        columns["published_split"].append(unwrap_text(split, path, row_id, "trianTestLabel"))
        columns["failure_type"].append(unwrap_text(failure, path, row_id, "failureType"))
        columns["map_height"].append(states.shape[0])
        columns["map_width"].append(states.shape[1])
        maps.append(states.ravel())
    offsets = np.zeros(len(maps) + 1, dtype=np.int64)
    np.cumsum([len(values) for values in maps], out=offsets[1:])
    values = np.concatenate(maps) if maps else np.zeros(0, np.uint8)
    arrays = [pa.array(columns[name], type=SCHEMA.field(name).type) for name in SCHEMA.names[:-1]]
    arrays.append(
        pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), len(maps), [None, pa.py_buffer(offsets), pa.py_buffer(values)]
        )
    )
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


@dataclasses.dataclass(frozen=True)
class SourceKey:
    """What identifies a pickle: its absolute path, size, modification time and the
    SHA-256 of its first and last MiB (cheap), and the SHA-256 of all of it (read again
    only when nothing but the modification time differs, after a touch or a copy)."""

    path: str
    size: int
    mtime_ns: int
    edges_sha256: str
    sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike) -> SourceKey:
        stat = Path(path).stat()
        return cls(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, edges_sha256(path), file_sha256(path))


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_READ_BUFFER_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def edges_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of the file's first and last MiB (the whole file when it is smaller)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(_EDGE_BYTES))
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(_EDGE_BYTES, size - _EDGE_BYTES))
        digest.update(handle.read(_EDGE_BYTES))
    return digest.hexdigest()


def convert_pickle(
    pickle_path: str | os.PathLike, parquet_path: str | os.PathLike, rows_per_group: int = 20_000
) -> int:
    """Read the pickle once (restricted, streamed) and write it to ``parquet_path``
    atomically, ``rows_per_group`` wafers per row group.  Returns the number of wafers."""
    pickle_path, parquet_path = Path(pickle_path), Path(parquet_path)
    key = SourceKey.of(pickle_path)
    frame = read_wafer_frame(pickle_path)
    metadata = {
        "format": FORMAT_VERSION, "source": str(pickle_path), "rows": len(frame), **dataclasses.asdict(key)
    }
    schema = SCHEMA.with_metadata({METADATA_KEY: json.dumps(metadata).encode()})

    def write(temporary: Path) -> None:
        # No dictionary for the maps: each is one value, all different.
        dictionary_columns = [name for name in SCHEMA.names if name != "die_states"]
        with pq.ParquetWriter(temporary, schema, use_dictionary=dictionary_columns, compression="zstd") as writer:
            for start in range(0, len(frame), rows_per_group):
                group = _row_group(frame.iloc[start : start + rows_per_group], pickle_path)
                writer.write_table(group.replace_schema_metadata(schema.metadata))

    write_atomically(parquet_path, write)  # an earlier conversion stays until this one is complete
    logger.info("WM-811K: converted %d wafers from %s to %s", len(frame), pickle_path, parquet_path)
    return len(frame)


def converted_metadata(parquet_path: str | os.PathLike) -> dict | None:
    """The conversion record of a Parquet file, or None if it has none (or is unreadable)."""
    try:
        metadata = pq.read_schema(parquet_path).metadata or {}
        return json.loads(metadata[METADATA_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None


def is_current(pickle_path: str | os.PathLike, parquet_path: str | os.PathLike) -> bool:
    """Whether ``parquet_path`` was converted from this pickle as it is now: the same path,
    size and first and last MiB, and the same modification time or (after a touch) the
    same SHA-256."""
    if not Path(parquet_path).exists():
        return False
    recorded = converted_metadata(parquet_path)
    if recorded is None or recorded.get("format") != FORMAT_VERSION:
        return False
    stat = Path(pickle_path).stat()
    if (str(Path(pickle_path).resolve()), stat.st_size) != (recorded.get("path"), recorded.get("size")):
        return False
    if edges_sha256(pickle_path) != recorded.get("edges_sha256"):
        return False
    return stat.st_mtime_ns == recorded.get("mtime_ns") or file_sha256(pickle_path) == recorded.get("sha256")


def read_converted(parquet_path: str | os.PathLike) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The converted wafers: their table (every column but ``die_states``) and the maps,
    uint8 (H, W) views into one buffer, in the same order."""
    parquet_path = Path(parquet_path)
    try:
        table = pq.read_table(parquet_path)
    except (OSError, pa.ArrowException) as error:
        raise WaferFormatError(f"{parquet_path}: not a readable Parquet file ({error})") from error
    if table.schema.remove_metadata() != SCHEMA:
        raise WaferFormatError(f"{parquet_path}: unexpected columns {table.schema.names}; expected {SCHEMA.names}")
    heights = table.column("map_height").to_numpy()
    widths = table.column("map_width").to_numpy()
    maps: list[np.ndarray] = []
    for chunk in table.column("die_states").chunks:
        _, offset_buffer, value_buffer = chunk.buffers()
        offsets = np.frombuffer(offset_buffer, dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
        values = np.frombuffer(value_buffer, dtype=np.uint8)
        for start, stop in zip(offsets[:-1], offsets[1:]):
            index = len(maps)
            maps.append(values[start:stop].reshape(heights[index], widths[index]))
    return table.drop_columns(["die_states"]).to_pandas(), maps
