"""Tables and JSON metrics whose wall-clock timings live in a sibling ``*_timings`` file.

Git keeps the metrics and per-epoch histories and DVC compares them between runs; a
``seconds`` column differs on every run, so every rerun would look like a change. These
datasets save the timings beside the file (``training_history.csv`` ->
``training_history_timings.csv``), which ``dvc.yaml`` does not declare and git ignores,
and put them back on load, so nodes see the same data as with ``pandas.CSVDataset`` /
``json.JSONDataset``. ``kedro run`` and ``dvc repro`` both write through them, so the
same values give the same bytes. A missing timings
file (e.g. after ``dvc pull`` on a fresh clone) loads as NaN timings for tables and no
timing keys for JSON, with a warning. ``conf/base`` uses their subclasses with kedro-viz
previews (:mod:`irl_inr.reporting.previews`), which save the same bytes; ``conf/dvc``
these, so that the DVC stages do not depend on the reporting code."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io.core import AbstractDataset, DatasetError

from irl_inr.io.atomic import write_atomically

logger = logging.getLogger(__name__)


def timings_path(path: Path) -> Path:
    """``dir/name.ext`` -> ``dir/name_timings.ext``."""
    return path.with_name(f"{path.stem}_timings{path.suffix}")


class TimingsSplitCSVDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A table saved as CSV without ``timing_columns``; those go, row for row, to the
    sibling ``*_timings.csv``."""

    def __init__(self, filepath: str, timing_columns: list[str], metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._timing_columns = list(timing_columns)
        self.metadata = metadata

    def save(self, data: pd.DataFrame) -> None:
        missing = [column for column in self._timing_columns if column not in data.columns]
        if missing:
            raise DatasetError(f"{self._filepath}: timing columns {missing} are not in the table")
        write_atomically(self._filepath, lambda path: data.drop(columns=self._timing_columns).to_csv(path, index=False))
        write_atomically(timings_path(self._filepath), lambda path: data[self._timing_columns].to_csv(path, index=False))

    def load(self) -> pd.DataFrame:
        table = pd.read_csv(self._filepath)
        timings_file = timings_path(self._filepath)
        timings = pd.read_csv(timings_file) if timings_file.exists() else None
        if timings is None or len(timings) != len(table):
            logger.warning("%s: no timings for its %d rows, loading them as NaN", timings_file, len(table))
            timings = pd.DataFrame({column: [float("nan")] * len(table) for column in self._timing_columns})
        return pd.concat([table, timings[self._timing_columns]], axis=1)

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "timing_columns": self._timing_columns}


def split_timings(data: Mapping, suffix: str) -> tuple[dict, dict]:
    """``data`` without the keys ending in ``suffix`` (at any depth), and those keys alone
    in the same nesting."""
    kept, timings = {}, {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            kept[key], nested = split_timings(value, suffix)
            if nested:
                timings[key] = nested
        elif str(key).endswith(suffix):
            timings[key] = value
        else:
            kept[key] = value
    return kept, timings


def merge_timings(data: dict, timings: Mapping) -> dict:
    """The inverse of ``split_timings``."""
    merged = dict(data)
    for key, value in timings.items():
        merged[key] = merge_timings(merged.get(key, {}), value) if isinstance(value, Mapping) else value
    return merged


class TimingsSplitJSONDataset(AbstractDataset[dict, dict]):
    """A JSON mapping saved (indented, keys sorted) without the keys ending in
    ``timing_suffix``; those go to the sibling ``*_timings.json``."""

    def __init__(self, filepath: str, timing_suffix: str = "seconds", metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._timing_suffix = timing_suffix
        self.metadata = metadata

    def save(self, data: dict) -> None:
        kept, timings = split_timings(data, self._timing_suffix)
        for path, content in ((self._filepath, kept), (timings_path(self._filepath), timings)):
            text = json.dumps(content, indent=2, sort_keys=True) + "\n"
            write_atomically(path, lambda target, text=text: Path(target).write_text(text, encoding="utf-8"))

    def load(self) -> dict:
        data = json.loads(self._filepath.read_text(encoding="utf-8"))
        timings_file = timings_path(self._filepath)
        if not timings_file.exists():
            logger.warning("%s: missing, loading %s without timings", timings_file, self._filepath)
            return data
        return merge_timings(data, json.loads(timings_file.read_text(encoding="utf-8")))

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "timing_suffix": self._timing_suffix}
