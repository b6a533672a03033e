"""WM-811K (``LSWMD.pkl``, MIR lab): a one-off conversion of the pickle to Parquet that
later runs read instead, and the check that the Parquet file still matches the pickle.

The pickle is read by the restricted unpickler of :mod:`irl_inr.domains.wm811k.pickle_reader` (its
names are re-exported here), which accepts the file as published (old pandas, Python 2)
and copies re-pickled by pandas 2.x and 3.x.  The Parquet file is written in row groups,
so the peak memory stays about one copy of the maps.

Parquet layout (one row per wafer, in file order): ``row_id`` (the DataFrame's index,
the original row), ``lot_name``, ``wafer_index``, ``die_size``, ``published_split``
(``trianTestLabel`` unwrapped, null when empty), ``failure_type`` (``failureType``
unwrapped, null = unlabelled), ``map_height``, ``map_width`` and ``die_states`` (the
map's bytes, uint8 row by row: 0 no die, 1 good die, 2 defective die).

The cache is keyed by the pickle's content: the schema metadata records the SHA-256 of
the whole file (:class:`SourceKey`, hashed before the file is read for the conversion),
and the Parquet file is reused only while the pickle hashes to it.  Size and modification
time cannot prove a file unchanged (an edit can keep both), so the only shortcut is the
one that is safe: a different size is a different file, converted again without hashing
first.  Hashing streams the file in 1 MiB blocks at about 1.2 GiB/s of CPU (2-core AMD
EPYC with SHA instructions): for the 2 GB ``LSWMD.pkl`` about 1.8 CPU s on every load,
2.5 s wall when it is in the page cache, 5-20 s when read from this machine's disk (see
benchmarks/README.md).  The Parquet file replaces an earlier one only once the whole
conversion has succeeded, and not at all if the pickle changed while it was read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from irl_inr.io.atomic import write_atomically
from irl_inr.domains.wm811k.pickle_reader import (
    ALLOWED_GLOBALS,
    REQUIRED_COLUMNS,
    RefusedGlobalError,
    RefusedValueError,
    WaferFormatError,
    WaferUnpickler,
    fetched_memo_keys,
    read_wafer_frame,
)

__all__ = [
    "ALLOWED_GLOBALS", "REQUIRED_COLUMNS", "RefusedGlobalError", "RefusedValueError", "WaferFormatError",
    "WaferUnpickler", "fetched_memo_keys", "read_wafer_frame", "unwrap_text", "checked_die_states", "SCHEMA",
    "SourceKey", "file_sha256", "convert_pickle", "convert_unless_current", "converted_metadata", "is_current",
    "read_converted",
]

logger = logging.getLogger(__name__)

DIE_STATES = (0, 1, 2)  # no die, good die, defective die
FORMAT_VERSION = 1  # the Parquet layout; records of every version hold the whole file's SHA-256
METADATA_KEY = b"irl_inr.wm811k"
_HASH_BLOCK_BYTES = 1 << 20  # 1 MiB reads: as fast as larger blocks or hashlib.file_digest here


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
    """What a conversion records about its pickle.  ``sha256`` (of the whole file) is the
    cache key; ``size`` rules a conversion out cheaply; ``mtime_ns`` and ``ctime_ns``
    (the status-change time, which any write sets and ``os.utime`` cannot set back) tell
    whether the file changed while it was converted; ``path`` is for people reading the
    record (a copy or a touch keeps the content, and so the key)."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike) -> SourceKey:
        """Stat, then hash (before the file is read for a conversion): a file that changes
        afterwards no longer matches ``sha256``, and is converted again on the next run."""
        path = Path(path)
        size, mtime_ns, ctime_ns = _stat_signature(path)
        return cls(str(path.resolve()), size, mtime_ns, ctime_ns, file_sha256(path))

    def matches_stat_of(self, path: Path) -> bool:
        """Whether ``path`` still has the size and times it had when this key was taken."""
        return _stat_signature(path) == (self.size, self.mtime_ns, self.ctime_ns)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of the whole file, read in 1 MiB blocks (never held whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _stat_signature(path: Path) -> tuple[int, int, int]:
    """Size, modification and status-change times: any write to the file changes one."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _convert(pickle_path: Path, parquet_path: Path, rows_per_group: int, key: SourceKey) -> int:
    """The conversion, recording ``key``, which was computed before the pickle is read.
    Fails, leaving ``parquet_path`` as it was, if the pickle's size or times changed since
    the key was taken (a best effort: a write within the same clock tick keeps them)."""
    frame = read_wafer_frame(pickle_path)
    metadata = {"format": FORMAT_VERSION, "source": str(pickle_path), "rows": len(frame), **dataclasses.asdict(key)}
    schema = SCHEMA.with_metadata({METADATA_KEY: json.dumps(metadata).encode()})

    def write(temporary: Path) -> None:
        # No dictionary for the maps: each is one value, all different.
        dictionary_columns = [name for name in SCHEMA.names if name != "die_states"]
        with pq.ParquetWriter(temporary, schema, use_dictionary=dictionary_columns, compression="zstd") as writer:
            for start in range(0, len(frame), rows_per_group):
                group = _row_group(frame.iloc[start : start + rows_per_group], pickle_path)
                writer.write_table(group.replace_schema_metadata(schema.metadata))
        if not key.matches_stat_of(pickle_path):
            raise WaferFormatError(f"{pickle_path}: the file changed while it was being converted; run again")

    write_atomically(parquet_path, write)  # an earlier conversion stays until this one is complete
    logger.info("WM-811K: converted %d wafers from %s to %s", len(frame), pickle_path, parquet_path)
    return len(frame)


def convert_pickle(
    pickle_path: str | os.PathLike, parquet_path: str | os.PathLike, rows_per_group: int = 20_000
) -> int:
    """Read the pickle once (restricted, streamed) and write it to ``parquet_path``
    atomically, ``rows_per_group`` wafers per row group, recording the pickle's
    :class:`SourceKey`.  Returns the number of wafers."""
    pickle_path = Path(pickle_path)
    return _convert(pickle_path, Path(parquet_path), rows_per_group, SourceKey.of(pickle_path))


def convert_unless_current(
    pickle_path: str | os.PathLike, parquet_path: str | os.PathLike, rows_per_group: int = 20_000
) -> bool:
    """Convert the pickle unless ``parquet_path`` was converted from a file with the same
    content; hashes the pickle once either way.  Returns whether it converted."""
    pickle_path, parquet_path = Path(pickle_path), Path(parquet_path)
    key = SourceKey.of(pickle_path)
    recorded = converted_metadata(parquet_path)
    if recorded is not None and recorded.get("format") == FORMAT_VERSION and recorded.get("sha256") == key.sha256:
        return False
    logger.info("WM-811K: converting %s to %s (no conversion of this content yet)", pickle_path, parquet_path)
    _convert(pickle_path, parquet_path, rows_per_group, key)
    return True


def converted_metadata(parquet_path: str | os.PathLike) -> dict | None:
    """The conversion record of a Parquet file, or None if it has none (or is unreadable)."""
    try:
        metadata = pq.read_schema(parquet_path).metadata or {}
        return json.loads(metadata[METADATA_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None


def is_current(pickle_path: str | os.PathLike, parquet_path: str | os.PathLike) -> bool:
    """Whether ``parquet_path`` was converted from a file with the pickle's content (its
    SHA-256); a different size answers no without reading the pickle."""
    recorded = converted_metadata(parquet_path) if Path(parquet_path).exists() else None
    if recorded is None or recorded.get("format") != FORMAT_VERSION:
        return False
    if Path(pickle_path).stat().st_size != recorded.get("size"):
        return False
    return file_sha256(pickle_path) == recorded.get("sha256")


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
