"""The decoded cache of a folder of images, written file by file and read memory-mapped.

A cache directory (``cache_dir``) holds one complete cache, a folder named by its key
(:func:`cache_key`, 64 hex digits):

* ``squares.npy``: float32 (N, C, C), or (N, 3, C, C) when any file holds colour (the gray
  images' three channels then equal), every image's padded square
  (``front_end.to_square``) at the cache size C, written one image at a time through a
  file handle behind its ``numpy.lib.format.open_memmap`` header, so that decoding holds
  one image, not the set; read back memory-mapped;
* ``table.parquet``: one row per image, :data:`DECODED_COLUMNS`;
* ``key.json``, written last: the key and what it was made of (the cache format, Pillow's
  version, the cache size, the number of files and images, the channels).

The folder is written under a temporary name (``.writing-*``) in ``cache_dir`` and renamed
to its key once complete, so a failure, a crash or Ctrl-C leaves the previous cache as it
was; after that rename, the other caches and leftover temporary folders in ``cache_dir``
are removed (one run writes a cache directory at a time). Other files there, such as an
earlier version's ``decoded.npz``, are left alone and never read."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd
import PIL

from irl_inr.domains.images.front_end import COLOUR, to_square
from irl_inr.domains.images.reading import frame_count, holds_colour, read_frames
from irl_inr.io.atomic import current_umask

logger = logging.getLogger(__name__)

CACHE_FORMAT = 3  # raised whenever what the cache holds or how files decode changes, so older caches are decoded again
DECODED_COLUMNS = ("file", "frame", "mode", "colour", "height", "width")
SQUARES_FILE, TABLE_FILE, KEY_FILE = "squares.npy", "table.parquet", "key.json"
TEMPORARY_PREFIX = ".writing-"
_CACHE_NAME = re.compile(r"[0-9a-f]{64}")
_WRITE_BUFFER_BYTES = 1 << 20
_PROGRESS_FILES = 10_000  # a log line every this many files decoded


class CacheDirectoryError(ValueError):
    """The cache directory cannot be made or written; the message names it."""


def cache_key(files: dict[str, str], cache_size: int) -> str:
    """SHA-256 of what a cache holds: the cache format, the Pillow that decoded the files
    (JPEG decoders differ in the last bit between versions), its square size and every
    file in order (path relative to the folder, SHA-256 of its content). The channels
    follow from the files (colour when any file holds colour)."""
    record = {"format": CACHE_FORMAT, "pillow": PIL.__version__, "cache_size": cache_size, "files": list(files.items())}
    return hashlib.sha256(json.dumps(record).encode()).hexdigest()


class SquaresFile:
    """A float32 ``.npy`` of a known shape (N, ...) written one square at a time: the header
    (and the file's full, sparse size) by ``open_memmap``, then each square appended
    through a buffered handle. A square (C, C) written into a file of (N, 3, C, C) fills
    each channel. Closing without N squares written is an error."""

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        header = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
        offset = header.offset
        del header  # unmapped: the squares go through the handle, not through memory
        self._path, self._square, self._left = path, shape[1:], shape[0]
        self._handle = open(path, "r+b", buffering=_WRITE_BUFFER_BYTES)  # noqa: SIM115  (closed in __exit__)
        self._handle.seek(offset)

    def append(self, square: np.ndarray) -> None:
        self._handle.write(np.ascontiguousarray(np.broadcast_to(square, self._square), dtype=np.float32))
        self._left -= 1

    def __enter__(self) -> SquaresFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if kind is None:
                if self._left != 0:
                    raise RuntimeError(f"{self._path}: {self._left} square(s) short of the shape written in its header")
                self._handle.flush()
                os.fsync(self._handle.fileno())
        finally:
            self._handle.close()


def decode_folder(directory: Path, folder: Path, files: list[str], cache_size: int) -> dict:
    """Every image of ``files`` (in order; a ``.npy`` stack gives one per frame) decoded,
    one at a time, into ``directory``'s ``squares.npy`` and ``table.parquet`` (``file``,
    ``frame``: the index in a stack, else 0; ``mode``: as stored; ``colour``: whether it is
    stored in colour; ``height``, ``width``). Returns the number of images and the
    channels (``gray`` or ``colour``)."""
    paths = [folder / file for file in files]
    counts = [frame_count(path) for path in paths]
    colour = any(holds_colour(path) for path in paths)  # stops at the first colour file
    shape = (sum(counts), *((COLOUR,) if colour else ()), cache_size, cache_size)
    rows = []
    with SquaresFile(directory / SQUARES_FILE, shape) as squares:
        for done, (file, path, count) in enumerate(zip(files, paths, counts), start=1):
            for frame, (pixels, mode) in enumerate(read_frames(path, range(count))):
                squares.append(to_square(pixels, cache_size))
                rows.append((file, frame, mode, pixels.ndim == 3, *pixels.shape[-2:]))
            if done % _PROGRESS_FILES == 0:
                logger.info("%s: decoded %d of %d files", folder, done, len(files))
    table = pd.DataFrame(dict(zip(DECODED_COLUMNS, zip(*rows))))
    table = table.astype({"file": str, "frame": np.int64, "mode": str, "colour": bool, "height": np.int64,
                          "width": np.int64})
    table.to_parquet(directory / TABLE_FILE, index=False)
    return {"images": shape[0], "channels": "colour" if colour else "gray"}


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _sync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _cache_directory(cache_dir: Path) -> Path:
    """``cache_dir``, made if missing; a file in its place is an error naming it."""
    if cache_dir.exists() and not cache_dir.is_dir():
        raise CacheDirectoryError(f"{cache_dir}: is a file, not a cache directory (images.raw_images cache_dir in "
                                  "catalog_images.yml names a directory)")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CacheDirectoryError(f"{cache_dir}: cannot make the cache directory ({error.strerror})") from error
    return cache_dir


def _remove_other_caches(cache_dir: Path, key: str) -> None:
    """Every cache folder but ``key``'s, and leftover temporary folders, removed."""
    for entry in cache_dir.iterdir():
        stale = _CACHE_NAME.fullmatch(entry.name) or entry.name.startswith(TEMPORARY_PREFIX)
        if entry.name != key and stale and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def write_cache(cache_dir: Path, key: str, folder: Path, files: list[str],
                cache_size: int) -> tuple[np.ndarray, pd.DataFrame]:
    """The images of ``files`` decoded into ``cache_dir``'s cache of ``key`` (see the module
    docstring: written whole under a temporary name, then renamed), and read back."""
    _cache_directory(cache_dir)
    try:
        temporary = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=cache_dir))
    except OSError as error:
        raise CacheDirectoryError(f"{cache_dir}: cannot write the cache there ({error.strerror})") from error
    try:
        summary = decode_folder(temporary, folder, files, cache_size)
        _sync(temporary / TABLE_FILE)
        record = {"key": key, "format": CACHE_FORMAT, "pillow": PIL.__version__, "cache_size": cache_size,
                  "files": len(files), **summary}
        _write_synced(temporary / KEY_FILE, json.dumps(record, indent=2))
        os.chmod(temporary, 0o777 & ~current_umask())  # as any new folder, not mkdtemp's private 0700
        final = cache_dir / key
        if final.exists():  # an unreadable cache of the same files
            shutil.rmtree(final)
        os.rename(temporary, final)
    except OSError as error:  # reading a file fails as an ImageFileError: this is writing (a full disk, ...)
        raise CacheDirectoryError(f"{cache_dir}: cannot write the cache ({error.strerror or error})") from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)  # nothing left once renamed
    _remove_other_caches(cache_dir, key)
    cached = read_cache(cache_dir, key)
    if cached is None:
        raise CacheDirectoryError(f"{cache_dir / key}: the cache just written cannot be read back")
    return cached


def read_cache(cache_dir: Path, key: str) -> tuple[np.ndarray, pd.DataFrame] | None:
    """The cache of ``key`` in ``cache_dir``: its squares memory-mapped (read-only) and its
    table; None when there is none, or it cannot be read or does not match its key file
    (with a warning: decoded again)."""
    directory = cache_dir / key
    if not (directory / KEY_FILE).is_file():
        return None
    try:
        record = json.loads((directory / KEY_FILE).read_text())
        squares = np.load(directory / SQUARES_FILE, mmap_mode="r", allow_pickle=False)
        table = pd.read_parquet(directory / TABLE_FILE)
        expected = (record["key"], record["images"], record["cache_size"], list(DECODED_COLUMNS))
        if (key, len(squares), squares.shape[-1], list(table.columns)) != expected or len(table) != len(squares):
            raise ValueError(f"{len(squares)} squares of {squares.shape[-1]} pixels and {len(table)} table rows do "
                             f"not match {KEY_FILE}")
    except (OSError, ValueError, KeyError, TypeError) as error:
        logger.warning("%s: an unreadable cache (%s); decoding the images again", directory, error)
        return None
    return squares, table
