"""MNIST's IDX format (LeCun et al.): a big-endian header, then raw uint8 data.

    magic   = 0x00000803 (images: 3 dims) or 0x00000801 (labels: 1 dim)
    dims    = one uint32 per dimension (count, rows, cols) or (count,)
    data    = prod(dims) unsigned bytes

Files may be gzip-compressed (``.gz``).  Every check names the file and what
is wrong with it, so a truncated download is caught before it is trained on.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


class IdxFormatError(ValueError):
    """An IDX file that is corrupt, truncated or of the wrong kind."""


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
            handle.seek(0)
            if head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=handle) as unzipped:
                    return unzipped.read()
            return handle.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zlib.error) as error:
        raise IdxFormatError(f"{path}: cannot decompress ({error}); the file is corrupt or truncated") from error


def _parse(path: Path, expected_magic: int) -> np.ndarray:
    raw = _read_bytes(path)
    if len(raw) < 8:
        raise IdxFormatError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        kind = "images (0x00000803)" if expected_magic == IMAGES_MAGIC else "labels (0x00000801)"
        raise IdxFormatError(
            f"{path}: magic number 0x{magic:08x}, expected {kind}; is this the right file?"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f"{path}: header cut off after {len(raw)} bytes")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims)) if dims else 0
    actual = len(raw) - header
    if actual != expected:
        raise IdxFormatError(
            f"{path}: header says {'x'.join(map(str, dims))} = {expected} bytes of data, "
            f"file holds {actual}; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX image file -> uint8 array (N, rows, cols)."""
    images = _parse(Path(path), IMAGES_MAGIC)
    if images.shape[0] == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise IdxFormatError(f"{path}: empty image array of shape {images.shape}")
    return images


def read_idx_labels(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX label file -> int64 array (N,)."""
    return _parse(Path(path), LABELS_MAGIC).astype(np.int64)


def read_idx_pair(images_path: str | os.PathLike, labels_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image and label files, checking that their counts agree."""
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    return images, labels


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzip-compressed if the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x00000800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    payload = header + array.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
