"""The Kedro dataset of the images domain: a folder of images, decoded once into a cache.
New images for ``images_predict`` are the shared ``NewImagesDataset`` with ``format:
images`` (:class:`~irl_inr.domains.images.readers.ImageFileReader`)."""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import PIL
from kedro.io.core import AbstractDataset, DatasetError

from irl_inr.domains.images.front_end import to_square
from irl_inr.domains.images.reading import (
    IMAGE_SUFFIXES,
    ImageFileError,
    class_names,
    file_sha256,
    frame_count,
    list_folder,
    read_frames,
)
from irl_inr.io.atomic import write_atomically
from irl_inr.parameters import is_int

logger = logging.getLogger(__name__)

CACHE_FORMAT = 2  # raised whenever what the cache holds or how files decode changes, so older caches are decoded again
DECODED_COLUMNS = ("file", "frame", "mode", "height", "width")
TEXT_COLUMNS = ("file", "mode")


def cache_key(files: dict[str, str], cache_size: int) -> str:
    """SHA-256 of what a cache holds: the cache format, the Pillow that decoded the files
    (JPEG decoders differ in the last bit between versions), its square size and every
    file in order (path relative to the folder, SHA-256 of its content)."""
    record = {"format": CACHE_FORMAT, "pillow": PIL.__version__, "cache_size": cache_size, "files": list(files.items())}
    return hashlib.sha256(json.dumps(record).encode()).hexdigest()


def decode_images(folder: Path, files: list[str], cache_size: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Every image of ``files`` (in order; a ``.npy`` stack gives one per frame), decoded
    one file at a time into a preallocated float32 (N, C, C) of their squares (C =
    ``cache_size``, ``front_end.to_square``), and their table: ``file``, ``frame`` (the
    index in a stack, else 0), ``mode`` (as stored), ``height``, ``width``."""
    counts = [frame_count(folder / file) for file in files]
    squares = np.empty((sum(counts), cache_size, cache_size), dtype=np.float32)  # (N, C, C)
    rows = []
    for file, count in zip(files, counts):
        for frame, (gray, mode) in enumerate(read_frames(folder / file, range(count))):
            squares[len(rows)] = to_square(gray, cache_size)
            rows.append((file, frame, mode, *gray.shape))
    return squares, decoded_table(dict(zip(DECODED_COLUMNS, zip(*rows))))


def decoded_table(columns: dict) -> pd.DataFrame:
    """The table of decoded images from its columns (sequences), with fixed dtypes."""
    return pd.DataFrame({name: np.asarray(columns[name], dtype=str if name in TEXT_COLUMNS else np.int64)
                         for name in DECODED_COLUMNS})


def write_cache(path: Path, key: str, squares: np.ndarray, table: pd.DataFrame) -> None:
    """The decoded images and their table in one ``.npz`` with ``key``, written atomically
    (an earlier cache stays whole until this one is complete)."""
    columns = {f"column_{name}": table[name].to_numpy(dtype=str if name in TEXT_COLUMNS else np.int64)
               for name in DECODED_COLUMNS}

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            np.savez(handle, key=np.array(key), squares=squares, **columns)

    write_atomically(path, write)


def read_cache(path: Path, key: str) -> tuple[np.ndarray, pd.DataFrame] | None:
    """The cache at ``path`` if it was made with ``key``; None when there is none, it holds
    other files or settings, or it cannot be read."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as cache:
            if str(cache["key"]) != key:
                return None
            table = decoded_table({name: cache[f"column_{name}"] for name in DECODED_COLUMNS})
            squares = cache["squares"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        logger.warning("%s: an unreadable cache (%s); decoding the images again", path, error)
        return None
    return squares, table


class ImageFolderDataset(AbstractDataset[None, dict]):
    """Read-only. Loads ``{"squares": float32 (N, C, C), "table": DataFrame, "source": str}``:
    every image of ``folder`` as its padded square (``front_end.to_square``) at
    ``cache_size`` C, and one table row per image: ``file``, ``frame``, ``mode``, ``height``,
    ``width`` (see :func:`decode_images`) and ``class_name`` (None: unlabelled), the layout
    of :mod:`irl_inr.domains.images.reading`.

    The first load decodes the folder, one file at a time, and writes ``cache_filepath``
    (atomically); later loads read that file while the folder holds the same image files
    (paths, and the SHA-256 of each, hashed on every load) and the cache size and Pillow's
    version are the same (:func:`cache_key`), and decode again otherwise. Labels are read
    on every load (a ``labels.csv`` that changes only labels decodes nothing). A folder or
    file that cannot be read is one DatasetError naming it, and leaves the cache as it was."""

    def __init__(self, folder: str, cache_filepath: str, cache_size: int = 64,
                 metadata: dict[str, Any] | None = None) -> None:
        if not is_int(cache_size) or cache_size < 8:
            raise DatasetError(f"ImageFolderDataset: cache_size must be an integer of at least 8, got {cache_size!r}")
        self._folder = Path(str(folder))
        self._cache = Path(cache_filepath)
        self._cache_size = cache_size
        self.metadata = metadata

    def load(self) -> dict:
        if not self._folder.exists() and not self._folder.is_symlink():
            raise DatasetError(f"no folder of images at {self._folder}: put the images there or name their folder "
                               "with --params images.folder=<path>")
        try:
            return self._read()
        except ImageFileError as error:
            raise DatasetError(str(error)) from error

    def _read(self) -> dict:
        listing = list_folder(self._folder)
        listing.warn_skipped()
        classes = class_names(listing)
        if not classes:
            raise ImageFileError(f"{self._folder}: holds no image file ({' '.join(IMAGE_SUFFIXES)})")
        files = list(classes)
        key = cache_key({file: file_sha256(self._folder / file) for file in files}, self._cache_size)
        cached = read_cache(self._cache, key)
        if cached is None:
            logger.info("%s: decoding %d image file(s) into %s", self._folder, len(files), self._cache)
            squares, table = decode_images(self._folder, files, self._cache_size)
            write_cache(self._cache, key, squares, table)
        else:
            logger.info("%s: reading %s (decoded from files of the same SHA-256)", self._folder, self._cache)
            squares, table = cached
        table["class_name"] = table["file"].map(classes).astype(object)
        return {"squares": squares, "table": table, "source": str(self._folder)}

    def save(self, data: None) -> None:
        raise DatasetError("ImageFolderDataset is read-only: raw images are never overwritten")

    def _exists(self) -> bool:
        return self._folder.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"folder": str(self._folder), "cache_filepath": str(self._cache), "cache_size": self._cache_size}
