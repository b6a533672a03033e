"""New images to predict on, read lazily in batches, and the two streamed outputs of the
``predict`` pipeline (a Parquet table and a memory-mapped ``.npy`` stack), each written
chunk by chunk and moved into place atomically when its last chunk arrives.

Formats of :class:`NewImagesDataset` (``format: auto`` picks one from the path): ``png``,
one PNG file or a folder of them (``*.png``, sorted by name), converted to 8-bit grayscale
with Pillow (``convert("L")``), every PNG of a folder the size of the first; and each
domain's own formats, read by its :class:`~irl_inr.domains.domain.ImageReader` (``idx``
digits, ``wm811k`` wafer maps, ``mrc`` particle stacks: :data:`irl_inr.domains.DOMAINS`).

A batch is a :class:`~irl_inr.domains.domain.RawImageBatch`: the images as read (not yet
preprocessed; the ``predict`` node applies the domain's front end) and one ``source`` per
image naming the file and the place in it.
"""

from __future__ import annotations

import abc
import dataclasses
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

from irl_inr.domains import DOMAINS
from irl_inr.domains.domain import ImageReader, RawImageBatch
from irl_inr.parameters import is_int


def _read_png(file: Path) -> np.ndarray:
    """A PNG as uint8 (H, W) grayscale (Pillow's ``convert("L")``)."""
    try:
        with Image.open(file) as image:
            if image.format != "PNG":
                raise DatasetError(f"{file}: not a PNG image (Pillow reads it as {image.format})")
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(f"{file}: not a readable PNG image ({error})") from error


class PngReader:
    """One PNG file or a folder of them (sorted by name), all of the first one's size."""

    format = "png"
    reads_folders = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files = sorted(path.glob("*.png")) if path.is_dir() else [path]
        if not self._files:
            raise DatasetError(f"{path}: the folder holds no PNG image (*.png)")
        self._shape = _read_png(self._files[0]).shape

    @staticmethod
    def matches(path: Path) -> bool:
        return path.is_dir() or path.suffix.lower() == ".png"

    @property
    def total(self) -> int:
        return len(self._files)

    def read(self, start: int, stop: int) -> RawImageBatch:
        files = self._files[start:stop]
        return RawImageBatch(self.format, np.stack([self._checked(file) for file in files]), [str(f) for f in files])

    def _checked(self, file: Path) -> np.ndarray:
        pixels = _read_png(file)
        if pixels.shape != self._shape:
            raise DatasetError(
                f"{file}: {pixels.shape[1]}x{pixels.shape[0]} pixels (W x H), but the first PNG of {self.path} "
                f"({self._files[0].name}) is {self._shape[1]}x{self._shape[0]}: every image of a folder must have "
                "the same size"
            )
        return pixels


# Every format's reader: PNG, then each domain's own.
READERS: dict[str, type[ImageReader]] = {
    PngReader.format: PngReader,
    **{reader.format: reader for domain in DOMAINS.values() for reader in domain.readers},
}
FORMATS = (*READERS, "auto")


def detect_format(path: Path) -> str:
    """The format of ``path`` from its name (a folder holds PNGs): the first reader whose
    ``matches`` accepts it."""
    for file_format, reader in READERS.items():
        if reader.matches(path):
            return file_format
    raise DatasetError(
        f"{path}: cannot tell the format from the name; set format to one of {FORMATS[:-1]} in the catalog entry"
    )


class ImageBatches(Iterator[RawImageBatch]):
    """Batches of at most ``batch_size`` images, in file order; ``total`` is the number of
    images the input holds (known before the first batch is read)."""

    def __init__(self, path: Path, file_format: str, batch_size: int) -> None:
        if not is_int(batch_size) or batch_size < 1:
            raise ValueError(f"{path}: batch_size must be a positive integer, got {batch_size!r}")
        self.path, self.format, self.batch_size = path, file_format, batch_size
        self._next = 0
        self._reader = READERS[file_format](path)
        self.total = self._reader.total

    def __iter__(self) -> ImageBatches:
        return self

    def __next__(self) -> RawImageBatch:
        start = self._next
        if start >= self.total:
            raise StopIteration
        stop = min(start + self.batch_size, self.total)
        self._next = stop
        return self._reader.read(start, stop)


class NewImages:
    """What :class:`NewImagesDataset` loads: nothing is read until :meth:`batches`."""

    def __init__(self, path: Path, file_format: str) -> None:
        self.path, self.format = path, file_format

    def batches(self, batch_size: int) -> ImageBatches:
        return ImageBatches(self.path, self.format, batch_size)

    def __repr__(self) -> str:
        return f"NewImages({str(self.path)!r}, format={self.format!r})"


class NewImagesDataset(AbstractDataset[None, NewImages]):
    """Read-only: ``filepath`` (a file, or a folder for a format whose reader reads folders:
    png, images) and ``format`` (one of :data:`FORMATS`: png, a domain's own, or auto; auto
    reads a folder as PNGs). ``load()`` checks that the path exists and returns a
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
        if path.is_dir() and not READERS[file_format].reads_folders:
            folder_formats = [name for name, reader in READERS.items() if reader.reads_folders]
            raise DatasetError(f"{path}: is a folder, which only formats {folder_formats} read (format is "
                               f"{file_format!r})")
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
