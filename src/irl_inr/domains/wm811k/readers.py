"""WM-811K wafer maps as new images to predict on: an LSWMD-style pickle (restricted
unpickler) or its Parquet conversion, die states 0/1/2 of any map size."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io.core import DatasetError

from irl_inr.domains.domain import RawImageBatch
from irl_inr.domains.wm811k.conversion import (
    RefusedGlobalError,
    WaferFormatError,
    checked_die_states,
    read_converted,
    read_wafer_frame,
)

logger = logging.getLogger(__name__)

_LOGGED_ROW_IDS = 5  # row ids named in the log line about skipped wafers


def _holds_no_die(wafer_map: Any) -> bool:
    """A numeric map that is empty or all 0 (no die); other maps are checked when read."""
    array = np.asarray(wafer_map)
    return array.size == 0 or (array.dtype.kind in "biuf" and not array.any())


class WaferReader:
    """The maps of a wafer file, in file order; as ingestion does, a map without a single
    die (0 x 0 included) is skipped, counted in a warning, and gets no prediction."""

    format = "wm811k"
    reads_folders = False

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            if path.suffix.lower() == ".parquet":
                table, maps = read_converted(path)
                row_ids = table["row_id"].to_numpy()
            else:
                frame = read_wafer_frame(path)
                row_ids, maps = frame.index.to_numpy(), frame["waferMap"].to_numpy()
        except (RefusedGlobalError, WaferFormatError) as error:
            raise DatasetError(str(error)) from error
        if len(maps) == 0:
            raise DatasetError(f"{path}: holds no wafer")
        empty = np.array([_holds_no_die(wafer_map) for wafer_map in maps], dtype=bool)
        if empty.any():
            logger.warning(
                "%s: skipping %d of %d wafer(s) whose map holds no die (row ids %s%s); they get no prediction",
                path, int(empty.sum()), len(empty), row_ids[empty][:_LOGGED_ROW_IDS].tolist(),
                ", ..." if empty.sum() > _LOGGED_ROW_IDS else "",
            )
            if empty.all():
                raise DatasetError(f"{path}: none of its {len(empty)} wafer maps holds a die")
            maps = [wafer_map for wafer_map, skip in zip(maps, empty) if not skip]
            row_ids = row_ids[~empty]
        self._maps, self._row_ids = maps, row_ids

    @staticmethod
    def matches(path: Path) -> bool:
        return path.suffix.lower() in (".pkl", ".pickle", ".parquet")

    @property
    def total(self) -> int:
        return len(self._maps)

    def read(self, start: int, stop: int) -> RawImageBatch:
        row_ids = self._row_ids[start:stop]
        try:
            maps = [
                checked_die_states(wafer_map, self.path, int(row_id))
                for wafer_map, row_id in zip(self._maps[start:stop], row_ids)
            ]
        except WaferFormatError as error:
            raise DatasetError(str(error)) from error
        return RawImageBatch(self.format, maps, [f"{self.path.name} row {int(row_id)}" for row_id in row_ids])
