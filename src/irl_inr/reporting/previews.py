"""kedro-datasets' table, JSON and figure datasets with previews fit for kedro-viz.

``kedro viz build --include-previews`` previews every dataset of every pipeline, also
those the last run did not write (another domain's, the predict pipeline's); the stock
datasets then fail to read the file and kedro-viz warns once per dataset. These
subclasses preview a missing file as nothing (kedro-viz shows no preview, quietly) and
round the numbers of tables and JSON files to significant figures (kedro-viz prints
floats in full); the committed metrics and histories get the same previews over the
datasets that keep their seconds apart. Loading and saving are the stock ones, except that
:class:`FigureDataset` also loads: the PNG's bytes, so that the report can embed a figure
another stage drew instead of drawing it again."""

from __future__ import annotations

import base64
import json

import pandas as pd

from kedro.io.core import get_filepath_str
# kedro-viz picks a preview's renderer by the name of its return type.
from kedro_datasets._typing import ImagePreview, JSONPreview, TablePreview
from kedro_datasets.json import JSONDataset as _JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset as _MatplotlibDataset
from kedro_datasets.pandas import CSVDataset as _CSVDataset
from kedro_datasets.pandas import ParquetDataset as _ParquetDataset

from irl_inr.datasets import timings
from irl_inr.reporting.formatting import round_nested


def _rounded_table(preview: dict) -> dict:
    return {**preview, "data": round_nested(preview["data"])}


class CSVDataset(_CSVDataset):
    """``pandas.CSVDataset`` with a quiet, rounded preview."""

    def preview(self, nrows: int = 5) -> TablePreview:
        return _rounded_table(super().preview(nrows)) if self.exists() else None


class ParquetDataset(_ParquetDataset):
    """``pandas.ParquetDataset`` with a quiet, rounded preview."""

    def preview(self, nrows: int = 5) -> TablePreview:
        return _rounded_table(super().preview(nrows)) if self.exists() else None


class JSONDataset(_JSONDataset):
    """``json.JSONDataset`` with a quiet, rounded preview."""

    def preview(self) -> JSONPreview:
        if not self.exists():
            return None
        return JSONPreview(json.dumps(round_nested(json.loads(super().preview()))))


class FigureDataset(_MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` (saves a figure as PNG) that also loads, as the
    PNG's bytes, with a quiet preview."""

    def load(self) -> bytes:
        with self._fs.open(self._load_path(), mode="rb") as handle:
            return handle.read()

    def preview(self) -> ImagePreview:
        return ImagePreview(base64.b64encode(self.load()).decode("ascii")) if self.exists() else None

    def _load_path(self) -> str:
        return get_filepath_str(self._get_load_path(), self._protocol)


class TimingsSplitCSVDataset(timings.TimingsSplitCSVDataset):
    """A committed table whose seconds live apart (:mod:`irl_inr.datasets.timings`, the same
    bytes), with a quiet, rounded preview of the committed file."""

    def preview(self, nrows: int = 5) -> TablePreview:
        if not self.exists():
            return None
        return _rounded_table(pd.read_csv(self._filepath, nrows=nrows).to_dict(orient="split"))


class TimingsSplitJSONDataset(timings.TimingsSplitJSONDataset):
    """Committed JSON metrics whose seconds live apart (:mod:`irl_inr.datasets.timings`, the
    same bytes), with a quiet, rounded preview of the committed file."""

    def preview(self) -> JSONPreview:
        if not self.exists():
            return None
        return JSONPreview(json.dumps(round_nested(json.loads(self._filepath.read_text(encoding="utf-8")))))
