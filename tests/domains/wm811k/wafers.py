"""Synthetic WM-811K tables, and pickles of them as published and as re-pickled.

The published ``LSWMD.pkl`` was written by pandas 0.x under Python 2 (protocol 2):
byte strings, including every array's raw data, are Python 2 ``str`` (BINSTRING,
memoised), its indexes live in ``pandas.indexes`` and arrays in ``numpy.core``.
:func:`write_python2_style_pickle` reproduces those traits with today's pandas."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pandas as pd

LABELS = ("Center", "Donut", "Edge-Loc", "Edge-Ring", "Loc", "Near-full", "Random", "Scratch", "none")


def disk_map(height: int, width: int, defect: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 (height, width): 1 inside the inscribed ellipse (good dies), 0 outside,
    2 on a 3x3 patch of defective dies at ``defect`` (row, column)."""
    rows = (np.arange(height) + 0.5) / height * 2 - 1
    cols = (np.arange(width) + 0.5) / width * 2 - 1
    inside = rows[:, None] ** 2 + cols[None, :] ** 2 <= 1.0
    states = inside.astype(np.uint8)
    if defect is not None:
        row, col = defect
        states[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2] = 2
    return states


def label_cell(text: str | None) -> np.ndarray:
    """A label as published: ``array([['Edge-Loc']])``, or an empty array when unlabelled."""
    return np.zeros((0, 0)) if text is None else np.array([[text]])


def _objects(values: list) -> np.ndarray:
    """A 1-D object array holding ``values`` as they are (arrays stay cells)."""
    cells = np.empty(len(values), dtype=object)
    cells[:] = values
    return cells


def wafer_frame(failure_types, splits=None, shapes=None, start_row: int = 1000) -> pd.DataFrame:
    """A wafer DataFrame with the published columns, one row per failure type (None:
    unlabelled); the index holds row ids ``start_row, start_row + 7, ...``."""
    count = len(failure_types)
    splits = ["Training" if index % 3 else "Test" for index in range(count)] if splits is None else splits
    shapes = [(26 + index % 5, 27 + index % 3) for index in range(count)] if shapes is None else shapes
    maps = [disk_map(h, w, defect=(h // 2, w // 4)) for h, w in shapes]
    frame = pd.DataFrame(
        {
            "waferMap": _objects(maps),
            "dieSize": np.full(count, 1683.0),
            "lotName": _objects([f"lot{index // 25 + 1}" for index in range(count)]),
            "waferIndex": (np.arange(count) % 25 + 1).astype(np.float64),
            "trianTestLabel": _objects([label_cell(split) for split in splits]),
            "failureType": _objects([label_cell(failure) for failure in failure_types]),
        },
        index=pd.Index(start_row + 7 * np.arange(count), dtype=np.int64),
    )
    # Python objects, not pandas 3's str dtype, as in the published file
    frame.columns = pd.Index(list(frame.columns), dtype=object)
    frame["lotName"] = frame["lotName"].astype(object)
    return frame


class _Python2StylePickler(pickle._Pickler):
    """Protocol 2, with ``bytes`` written and memoised as Python 2 ``str`` was."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes_as_str(self, value: bytes) -> None:
        if len(value) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(value)]) + value)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(value)) + value)
        self.memoize(value)

    dispatch[bytes] = save_bytes_as_str


def python2_style_pickle(value) -> bytes:
    buffer = io.BytesIO()
    _Python2StylePickler(buffer, protocol=2).dump(value)
    data = buffer.getvalue()
    # GLOBAL opcodes are "module\nname\n" text: rename the globals to their old names.
    for new, old in (
        (b"numpy._core.", b"numpy.core."),
        (b"pandas.core.indexes.", b"pandas.indexes."),
        (b"pandas\nIndex\n", b"pandas.indexes.base\nIndex\n"),
        (b"pandas\nDataFrame\n", b"pandas.core.frame\nDataFrame\n"),
        (b"pandas.core.internals.managers\nBlockManager\n", b"pandas.core.internals\nBlockManager\n"),
    ):
        data = data.replace(b"c" + new, b"c" + old)
    return data


def write_python2_style_pickle(frame: pd.DataFrame, path: Path) -> Path:
    path.write_bytes(python2_style_pickle(frame))
    return path
