"""MRC/MRCS files (CCP-EM MRC2014): particle image stacks and 3-D density maps.

The header is read with ``mrcfile`` in permissive mode, because some real stacks (written
by older software) lack the ``MAP `` identifier that strict mode demands.  Permissive mode
also accepts a file whose size disagrees with its header, so this module checks that
itself: the file must be exactly 1024 header bytes, the extended header (``nsymbt``) and
``nx * ny * nz`` voxels of the header's mode.  The voxels are then read through a memory
map, so a large stack is never read whole to pick a few images.

Array layout: ``data[k, row, column]`` = section ``k``, ``y`` = row, ``x`` = column, as
``mrcfile`` gives it.  A stack is ``(N, H, W)``; a volume ``(D, H, W)`` = ``(z, y, x)``.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import mrcfile
import numpy as np
from mrcfile.utils import data_dtype_from_header

from irl_inr.io.atomic import write_atomically

HEADER_BYTES = 1024


class MrcFormatError(ValueError):
    """An MRC file that is corrupt, truncated, or not the kind of data asked for."""


@dataclasses.dataclass(frozen=True)
class MrcHeader:
    """What the data reader needs from a header: ``shape`` (nz, ny, nx), the voxel
    ``dtype`` with its byte order, where the voxels start, and the voxel size in Å."""

    path: Path
    shape: tuple[int, int, int]
    dtype: np.dtype
    data_offset: int
    voxel_size: float


def read_mrc_header(path: str | os.PathLike) -> MrcHeader:
    """Read and check the header of ``path`` against the file's size."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MRC file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # missing 'MAP ' or machine stamp: checked below
            with mrcfile.open(path, permissive=True, header_only=True) as handle:
                header = handle.header.copy()
                voxel_size = float(handle.voxel_size.x)
    except (ValueError, OSError, EOFError) as error:
        raise MrcFormatError(f"{path}: not a readable MRC header ({error})") from error
    if header is None:
        raise MrcFormatError(f"{path}: shorter than the {HEADER_BYTES}-byte MRC header")
    nx, ny, nz = int(header.nx), int(header.ny), int(header.nz)
    if min(nx, ny, nz) < 1:
        raise MrcFormatError(f"{path}: header dimensions nx={nx}, ny={ny}, nz={nz} must all be positive")
    try:
        dtype = data_dtype_from_header(header)
    except ValueError as error:
        raise MrcFormatError(f"{path}: unsupported MRC mode {int(header.mode)} ({error})") from error
    extended = int(header.nsymbt)
    if extended < 0:
        raise MrcFormatError(f"{path}: negative extended header size nsymbt={extended}")
    offset = HEADER_BYTES + extended
    expected = offset + nx * ny * nz * dtype.itemsize
    actual = path.stat().st_size
    if actual != expected:
        raise MrcFormatError(
            f"{path}: header says {nz} x {ny} x {nx} voxels of mode {int(header.mode)} ({dtype.itemsize} bytes each) "
            f"after {offset} header bytes = {expected} bytes, but the file has {actual} bytes; "
            "it is truncated or its header is wrong"
        )
    return MrcHeader(
        path=path,
        shape=(nz, ny, nx),
        dtype=dtype,
        data_offset=offset,
        voxel_size=voxel_size,
    )


def _voxels(header: MrcHeader) -> np.memmap:
    return np.memmap(header.path, dtype=header.dtype, mode="r", offset=header.data_offset, shape=header.shape)


def _checked_float32(data: np.ndarray, path: Path, what: str, numbers: Sequence[int]) -> np.ndarray:
    """A float32 copy in memory (not a view of the file); NaN or infinite voxels are an
    error naming the file and the image."""
    array = np.array(data, dtype=np.float32)
    finite = np.isfinite(array).reshape(len(array), -1).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise MrcFormatError(
            f"{path}: {what} {numbers[bad]} holds NaN or infinite values "
            f"({int((~finite).sum())} of {len(array)} affected)"
        )
    return array


def read_particle_stack(path: str | os.PathLike, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Images of an ``.mrcs`` stack (or an ``.mrc`` holding one image or a stack) as
    float32 ``(N, H, W)``; ``indices`` (0-based) picks images, in that order.

    Errors name the file: non-square images, an index past the end, NaN pixels."""
    header = read_mrc_header(path)
    count, height, width = header.shape
    if height != width:
        raise MrcFormatError(f"{header.path}: particle images must be square, these are {height} x {width} (H x W)")
    order = np.arange(count) if indices is None else np.asarray(indices, dtype=np.int64)
    if order.ndim != 1:
        raise ValueError(f"{header.path}: image indices must be one-dimensional, got shape {order.shape}")
    outside = (order < 0) | (order >= count)
    if outside.any():
        raise MrcFormatError(
            f"{header.path}: holds {count} images, but image {int(order[outside][0]) + 1} (1-based) was asked for"
        )
    return _checked_float32(_voxels(header)[order], header.path, "image (1-based)", (order + 1).tolist())


def read_volume(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """A cubic 3-D map as float32 ``(D, D, D)`` indexed ``[z, y, x]``, and its voxel size in Å."""
    header = read_mrc_header(path)
    if len(set(header.shape)) != 1:
        raise MrcFormatError(f"{header.path}: a density map must be cubic, this one is {header.shape} (z, y, x)")
    volume = _checked_float32(_voxels(header)[None], header.path, "volume", [1])[0]
    return volume, header.voxel_size


def write_mrc(path: str | os.PathLike, data: np.ndarray, voxel_size: float, *, stack: bool) -> None:
    """Write float32 ``data`` (a stack ``(N, H, W)`` or a volume ``(D, H, W)``) atomically,
    with the ``MAP `` identifier, the voxel size (Å) and the stack/volume space group."""
    array = np.ascontiguousarray(data, dtype=np.float32)
    if array.ndim != 3:
        raise ValueError(f"{path}: MRC data must be 3-D (N, H, W) or (D, H, W), got shape {array.shape}")
    if not voxel_size > 0:
        raise ValueError(f"{path}: voxel size must be positive, got {voxel_size}")

    def write(temporary: Path) -> None:
        with mrcfile.new(temporary, overwrite=True) as handle:
            handle.set_data(array)
            if stack:
                handle.set_image_stack()
            else:
                handle.set_volume()
            handle.voxel_size = float(voxel_size)

    write_atomically(path, write)
