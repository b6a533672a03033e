"""New images to predict on, read lazily in batches, and the two streamed outputs of the
``predict`` pipeline (a Parquet table and a memory-mapped ``.npy`` stack), each written
chunk by chunk and moved into place atomically when its last chunk arrives.

Formats of :class:`NewImagesDataset` (``format: auto`` picks one from the path):

* ``idx``: an MNIST IDX image file (``.gz`` too), uint8 digits (:mod:`irl_inr.io.idx`);
* ``wm811k``: an LSWMD-style pickle (restricted unpickler) or its Parquet conversion
  (:mod:`irl_inr.io.wm811k`), die states 0/1/2 of any map size;
* ``mrc``: an MRC/MRCS particle stack (:mod:`irl_inr.io.mrc`), read through a memory map,
  one batch of images at a time;
* ``png``: one PNG file or a folder of them (``*.png``, sorted by name), converted to 8-bit
  grayscale with Pillow (``convert("L")``); every PNG of a folder must have the size of
  the first, and a folder without PNGs is an error naming it.

A batch is a :class:`RawImageBatch`: the images as read (not yet preprocessed; the
``predict`` node applies the domain's front end) and one ``source`` per image naming the
file and the place in it.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io.core import AbstractDataset, DatasetError
from PIL import Image, UnidentifiedImageError

from irl_inr.io.idx import IdxFormatError, read_idx_images
from irl_inr.io.mrc import MrcFormatError, read_mrc_header, read_particle_stack
from irl_inr.io.wm811k import (
    RefusedGlobalError,
    WaferFormatError,
    checked_die_states,
    read_converted,
    read_wafer_frame,
)
from irl_inr.parameters import is_int

logger = logging.getLogger(__name__)

_LOGGED_ROW_IDS = 5  # row ids named in the log line about skipped wafers

FORMATS = ("idx", "wm811k", "mrc", "png", "auto")
_SUFFIX_FORMATS = {
    ".png": "png", ".mrc": "mrc", ".mrcs": "mrc", ".pkl": "wm811k", ".pickle": "wm811k", ".parquet": "wm811k",
}


def detect_format(path: Path) -> str:
    """The format of ``path`` from its name: a folder holds PNGs; ``.png``, ``.mrc(s)``,
    ``.pkl``/``.pickle``/``.parquet`` (WM-811K); IDX files end in ``-ubyte`` or ``.idx``
    (optionally ``.gz``)."""
    if path.is_dir():
        return "png"
    name = path.name.lower().removesuffix(".gz")
    if name.endswith("-ubyte") or name.endswith(".idx") or name.endswith("idx3-ubyte"):
        return "idx"
    suffix = Path(name).suffix
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    raise DatasetError(
        f"{path}: cannot tell the format from the name; set format to one of {FORMATS[:-1]} in the catalog entry"
    )


@dataclasses.dataclass(frozen=True)
class RawImageBatch:
    """Images as read: ``pixels`` is an array (B, H, W) (uint8 for idx and png, float32 for
    mrc) or, for wafer maps of different sizes, a list of B uint8 (H, W) arrays of die
    states; ``sources`` names each image's file and place (``file[index]``, ``18@stack.mrcs``,
    ``LSWMD.pkl row 12``, the PNG's path)."""

    format: str
    pixels: np.ndarray | list[np.ndarray]
    sources: list[str]

    def __len__(self) -> int:
        return len(self.sources)


class ImageBatches(Iterator[RawImageBatch]):
    """Batches of at most ``batch_size`` images, in file order; ``total`` is the number of
    images the input holds (known before the first batch is read)."""

    def __init__(self, path: Path, file_format: str, batch_size: int) -> None:
        if not is_int(batch_size) or batch_size < 1:
            raise ValueError(f"{path}: batch_size must be a positive integer, got {batch_size!r}")
        self.path, self.format, self.batch_size = path, file_format, batch_size
        self._next = 0
        self._open()

    def _open(self) -> None:
        path = self.path
        if self.format == "png":
            self._files = sorted(path.glob("*.png")) if path.is_dir() else [path]
            if not self._files:
                raise DatasetError(f"{path}: the folder holds no PNG image (*.png)")
            self._shape = _read_png(self._files[0]).shape
            self.total = len(self._files)
        elif self.format == "idx":
            try:
                self._digits = read_idx_images(path)
            except IdxFormatError as error:
                raise DatasetError(str(error)) from error
            self.total = len(self._digits)
        elif self.format == "mrc":
            try:
                self.total = read_mrc_header(path).shape[0]
            except MrcFormatError as error:
                raise DatasetError(str(error)) from error
        else:
            self._open_wafers()

    def _open_wafers(self) -> None:
        path = self.path
        try:
            if path.suffix.lower() == ".parquet":
                table, self._maps = read_converted(path)
                self._row_ids = table["row_id"].to_numpy()
            else:
                frame = read_wafer_frame(path)
                self._row_ids = frame.index.to_numpy()
                self._maps = frame["waferMap"].to_numpy()
        except (RefusedGlobalError, WaferFormatError) as error:
            raise DatasetError(str(error)) from error
        if len(self._maps) == 0:
            raise DatasetError(f"{path}: holds no wafer")
        # As ingestion does: a map without a single die (0 x 0 included) is skipped and counted.
        empty = np.array([_holds_no_die(wafer_map) for wafer_map in self._maps], dtype=bool)
        if empty.any():
            logger.warning(
                "%s: skipping %d of %d wafer(s) whose map holds no die (row ids %s%s); they get no prediction",
                path, int(empty.sum()), len(empty), self._row_ids[empty][:_LOGGED_ROW_IDS].tolist(),
                ", ..." if empty.sum() > _LOGGED_ROW_IDS else "",
            )
            if empty.all():
                raise DatasetError(f"{path}: none of its {len(empty)} wafer maps holds a die")
            self._maps = [wafer_map for wafer_map, skip in zip(self._maps, empty) if not skip]
            self._row_ids = self._row_ids[~empty]
        self.total = len(self._maps)

    def __iter__(self) -> ImageBatches:
        return self

    def __next__(self) -> RawImageBatch:
        start = self._next
        if start >= self.total:
            raise StopIteration
        stop = min(start + self.batch_size, self.total)
        self._next = stop
        name = self.path.name
        if self.format == "png":
            files = self._files[start:stop]
            pixels = np.stack([self._checked_png(file) for file in files])
            return RawImageBatch("png", pixels, [str(file) for file in files])
        if self.format == "idx":
            return RawImageBatch("idx", self._digits[start:stop], [f"{name}[{i}]" for i in range(start, stop)])
        if self.format == "mrc":
            try:
                pixels = read_particle_stack(self.path, np.arange(start, stop))
            except MrcFormatError as error:
                raise DatasetError(str(error)) from error
            return RawImageBatch("mrc", pixels, [f"{i + 1}@{name}" for i in range(start, stop)])
        row_ids = self._row_ids[start:stop]
        try:
            maps = [
                checked_die_states(wafer_map, self.path, int(row_id))
                for wafer_map, row_id in zip(self._maps[start:stop], row_ids)
            ]
        except WaferFormatError as error:
            raise DatasetError(str(error)) from error
        sources = [f"{name} row {int(row_id)}" for row_id in row_ids]
        return RawImageBatch("wm811k", maps, sources)

    def _checked_png(self, file: Path) -> np.ndarray:
        pixels = _read_png(file)
        if pixels.shape != self._shape:
            raise DatasetError(
                f"{file}: {pixels.shape[1]}x{pixels.shape[0]} pixels (W x H), but the first PNG of {self.path} "
                f"({self._files[0].name}) is {self._shape[1]}x{self._shape[0]}: every image of a folder must have "
                "the same size"
            )
        return pixels


def _holds_no_die(wafer_map: Any) -> bool:
    """A numeric map that is empty or all 0 (no die); other maps are checked when read."""
    array = np.asarray(wafer_map)
    return array.size == 0 or (array.dtype.kind in "biuf" and not array.any())


def _read_png(file: Path) -> np.ndarray:
    """A PNG as uint8 (H, W) grayscale (Pillow's ``convert("L")``)."""
    try:
        with Image.open(file) as image:
            if image.format != "PNG":
                raise DatasetError(f"{file}: not a PNG image (Pillow reads it as {image.format})")
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(f"{file}: not a readable PNG image ({error})") from error


class NewImages:
    """What :class:`NewImagesDataset` loads: nothing is read until :meth:`batches`."""

    def __init__(self, path: Path, file_format: str) -> None:
        self.path, self.format = path, file_format

    def batches(self, batch_size: int) -> ImageBatches:
        return ImageBatches(self.path, self.format, batch_size)

    def __repr__(self) -> str:
        return f"NewImages({str(self.path)!r}, format={self.format!r})"


class NewImagesDataset(AbstractDataset[None, NewImages]):
    """Read-only: ``filepath`` (a file, or a folder of PNGs) and ``format`` (idx | wm811k |
    mrc | png | auto). ``load()`` checks that the path exists and returns a
    :class:`NewImages`, whose ``batches(batch_size)`` streams the images."""

    def __init__(self, filepath: str, format: str = "auto", metadata: dict[str, Any] | None = None) -> None:
        if format not in FORMATS:
            raise DatasetError(f"NewImagesDataset({filepath}): format must be one of {FORMATS}, got {format!r}")
        self._filepath = Path(filepath)
        self._format = format
        self.metadata = metadata

    def load(self) -> NewImages:
        path = self._filepath
        if not path.exists():
            raise DatasetError(
                f"{path}: no new images there; put them there or name them with --params new_images=<file or folder>"
            )
        file_format = detect_format(path) if self._format == "auto" else self._format
        if path.is_dir() and file_format != "png":
            raise DatasetError(f"{path}: is a folder, which only format png reads (format is {file_format!r})")
        return NewImages(path, file_format)

    def save(self, data: None) -> None:
        raise DatasetError("NewImagesDataset is read-only: new images are never overwritten")

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "format": self._format}


# ------------------------------------------------------------------------ streamed outputs


@dataclasses.dataclass(frozen=True)
class StreamChunk:
    """Rows ``start .. start + len(data)`` of an output of ``total`` rows; ``data`` is a
    DataFrame (tables) or an array (image stacks)."""

    start: int
    total: int
    data: Any


class _StreamedDataset(AbstractDataset[StreamChunk, Any]):
    """Saves :class:`StreamChunk`s in order into ``.<name>.partial`` beside ``filepath`` and
    moves that file onto ``filepath`` (fsynced, atomic rename) when the last chunk is in;
    a run that stops half way leaves the earlier file untouched (the partial file is
    overwritten by the next run)."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._partial = self._filepath.with_name(f".{self._filepath.name}.partial")
        self._written = 0
        self.metadata = metadata

    def save(self, data: StreamChunk) -> None:
        if not isinstance(data, StreamChunk):
            raise DatasetError(f"{self._filepath}: expected a StreamChunk, got {type(data).__name__}")
        expected = 0 if data.start == 0 else self._written
        if data.start != expected or data.start + len(data.data) > data.total:
            raise DatasetError(
                f"{self._filepath}: chunk of rows {data.start}..{data.start + len(data.data)} of {data.total} arrived "
                f"after {self._written} rows were written"
            )
        if data.start == 0:
            self._partial.parent.mkdir(parents=True, exist_ok=True)
            self._begin(data)
        self._append(data)
        self._written = data.start + len(data.data)
        if self._written == data.total:
            self._finish()
            with open(self._partial, "rb") as written:
                os.fsync(written.fileno())
            os.replace(self._partial, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    @abc.abstractmethod
    def _begin(self, chunk: StreamChunk) -> None:
        """Create the partial file for a stream whose first chunk is ``chunk``."""

    @abc.abstractmethod
    def _append(self, chunk: StreamChunk) -> None:
        """Write ``chunk``'s rows."""

    @abc.abstractmethod
    def _finish(self) -> None:
        """Close the partial file (the base class then moves it into place)."""


class StreamedParquetDataset(_StreamedDataset):
    """A table written chunk by chunk (one Parquet row group per chunk, every chunk with the
    first one's columns); loads as a DataFrame."""

    def _begin(self, chunk: StreamChunk) -> None:
        self._schema = pa.Schema.from_pandas(chunk.data, preserve_index=False)
        self._writer = pq.ParquetWriter(self._partial, self._schema)

    def _append(self, chunk: StreamChunk) -> None:
        try:
            table = pa.Table.from_pandas(chunk.data, schema=self._schema, preserve_index=False)
        except (pa.ArrowException, ValueError, KeyError) as error:
            raise DatasetError(f"{self._filepath}: rows {chunk.start}.. do not match the first chunk's columns "
                               f"({error})") from error
        self._writer.write_table(table)

    def _finish(self) -> None:
        self._writer.close()

    def load(self) -> pd.DataFrame:
        return pd.read_parquet(self._filepath)


class StreamedNpyDataset(_StreamedDataset):
    """An image stack (total, H, W) float32 in a ``.npy`` file: the header first, then each
    chunk appended in order (plain writes, so only one chunk is ever in memory and written
    pages stay in the page cache, not in the process); loads memory-mapped, read-only. A
    chunk of an output of 0 rows (``StreamChunk(0, 0, empty (0, H, W) array)``) writes an
    empty stack at once, as each time it is saved."""

    def _begin(self, chunk: StreamChunk) -> None:
        self._shape = (chunk.total, *np.shape(chunk.data)[1:])
        self._handle = open(self._partial, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": self._shape}
        np.lib.format.write_array_header_1_0(self._handle, header)

    def _append(self, chunk: StreamChunk) -> None:
        data = np.ascontiguousarray(chunk.data, dtype=np.float32)
        if data.shape[1:] != self._shape[1:]:
            raise DatasetError(f"{self._filepath}: images {chunk.start}.. have shape {data.shape[1:]}, the first "
                               f"chunk's were {self._shape[1:]}")
        self._handle.write(data.tobytes())

    def _finish(self) -> None:
        self._handle.close()

    def load(self) -> np.ndarray:
        return np.load(self._filepath, mmap_mode="r", allow_pickle=False)
