"""The Kedro dataset of the images domain: a folder of images, decoded once into a cache
(:mod:`irl_inr.domains.images.cache`). New images for ``images_predict`` are the shared
``NewImagesDataset`` with ``format: images``
(:class:`~irl_inr.domains.images.readers.ImageFileReader`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from irl_inr.domains.images.cache import CacheDirectoryError, cache_key, read_cache, write_cache
from irl_inr.domains.images.reading import IMAGE_SUFFIXES, ImageFileError, class_names, file_sha256, list_folder
from irl_inr.parameters import is_int

logger = logging.getLogger(__name__)


class ImageFolderDataset(AbstractDataset[None, dict]):
    """Read-only. Loads ``{"squares": float32 (N, C, C) or (N, 3, C, C), memory-mapped,
    "table": DataFrame, "source": str}``: every image of ``folder`` as its padded square
    (``front_end.to_square``) at ``cache_size`` C, gray, or colour (R, G, B) when any file
    holds colour, and one table row per image: ``file``, ``frame``, ``mode``, ``colour``,
    ``height``, ``width`` (see :func:`~irl_inr.domains.images.cache.decode_folder`) and
    ``class_name`` (None: unlabelled), the layout of :mod:`irl_inr.domains.images.reading`.

    The first load decodes the folder, one image at a time, into a cache in ``cache_dir``
    (written whole, then renamed; see :mod:`irl_inr.domains.images.cache`); later loads
    read that cache while the folder holds the same image files (paths, and the SHA-256
    of each, hashed in 1 MiB blocks on every load) and the cache size and Pillow's version
    are the same (:func:`~irl_inr.domains.images.cache.cache_key`), and decode again
    otherwise. Labels are read on every load (a ``labels.csv`` that changes only labels
    decodes nothing). A folder, file or cache directory that cannot be read or written is
    one DatasetError naming it, and leaves the cache as it was."""

    def __init__(self, folder: str, cache_dir: str, cache_size: int = 64,
                 metadata: dict[str, Any] | None = None) -> None:
        if not is_int(cache_size) or cache_size < 8:
            raise DatasetError(f"ImageFolderDataset: cache_size must be an integer of at least 8, got {cache_size!r}")
        self._folder = Path(str(folder))
        self._cache_dir = Path(cache_dir)
        self._cache_size = cache_size
        self.metadata = metadata

    def load(self) -> dict:
        if not self._folder.exists() and not self._folder.is_symlink():
            raise DatasetError(f"no folder of images at {self._folder}: put the images there or name their folder "
                               "with --params images.folder=<path>")
        try:
            return self._read()
        except (ImageFileError, CacheDirectoryError) as error:
            raise DatasetError(str(error)) from error

    def _read(self) -> dict:
        listing = list_folder(self._folder)
        listing.warn_skipped()
        classes = class_names(listing)
        if not classes:
            raise ImageFileError(f"{self._folder}: holds no image file ({' '.join(IMAGE_SUFFIXES)})")
        files = list(classes)
        key = cache_key({file: file_sha256(self._folder / file) for file in files}, self._cache_size)
        cached = read_cache(self._cache_dir, key)
        if cached is None:
            logger.info("%s: decoding %d image file(s) into %s", self._folder, len(files), self._cache_dir / key)
            cached = write_cache(self._cache_dir, key, self._folder, files, self._cache_size)
        else:
            logger.info("%s: reading %s (decoded from files of the same SHA-256)", self._folder, self._cache_dir / key)
        squares, table = cached
        table["class_name"] = table["file"].map(classes).astype(object)
        return {"squares": squares, "table": table, "source": str(self._folder)}

    def save(self, data: None) -> None:
        raise DatasetError("ImageFolderDataset is read-only: raw images are never overwritten")

    def _exists(self) -> bool:
        return self._folder.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"folder": str(self._folder), "cache_dir": str(self._cache_dir), "cache_size": self._cache_size}
