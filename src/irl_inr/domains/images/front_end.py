"""Gray images of any size -> the model's input, float32 (N, S, S) in [0, 1]; the same
functions for ingestion and for new images.

Two steps, so that ingestion can keep the first one's result in its cache:

1. :func:`to_square`: each image is padded with black to a centred square and averaged
   by area to the cache size C (N, C, C), whatever its own size;
2. :func:`square_geometry` and :func:`finish_images`: the part of that square that
   ``crop`` keeps (``centre``: the centred square of the image's shorter side; ``pad``:
   all of it) averaged by area to S; with ``background: border``, every pixel replaced by
   its distance from the image's background level (the median of its outermost ring of
   pixels), so that whatever stands out from the background is bright whichever way it
   differs (a wafer map's defects drawn darker than its light grey surround, a dark
   particle on a light field); then the intensities normalised to [0, 1]
   (``per_image``: each image's own minimum and maximum; ``per_set``: the range of the
   ingested set, which new images keep) and, with ``circular_mask``, everything outside
   the inscribed circle set to 0.

A front end is a dict (``new_image_front_end``): ``image_size``, ``crop``,
``circular_mask``, ``background``, ``normalise``, ``min_side_pixels``, ``cache_size`` and
``intensity_range`` [low, high] (the ingested set's, after the background step and before
normalisation)."""

from __future__ import annotations

import numpy as np

from irl_inr.domains.domain import RawImageBatch

CROPS = ("centre", "pad")
NORMALISATIONS = ("per_image", "per_set")
BACKGROUNDS = ("keep", "border")
GEOMETRY_CHUNK = 4096  # squares resized at once (memory only: 64 MiB of squares at C = 64)


def area_weights(target: int, source: int, low: float, high: float) -> np.ndarray:
    """float32 (target, source): output pixel i is the mean of [low + i·step, low + (i+1)·step)
    (step = (high - low) / target) in source coordinates, where source pixel j spans
    [j, j + 1); each source pixel weighs its overlap, and what lies outside [0, source)
    counts as black (padding)."""
    edges = low + (high - low) * np.arange(target + 1, dtype=np.float64) / target  # (target + 1,)
    pixel = np.arange(source, dtype=np.float64)[None, :]  # (1, source)
    overlap = np.minimum(edges[1:, None], pixel + 1) - np.maximum(edges[:-1, None], pixel)  # (target, source)
    return (np.clip(overlap, 0.0, None) / ((high - low) / target)).astype(np.float32)


def to_square(gray: np.ndarray, size: int) -> np.ndarray:
    """float32 (H, W) -> (size, size): the image padded with black to the centred square of
    side max(H, W), averaged by area to ``size`` (one matrix per axis, no padded copy)."""
    height, width = gray.shape
    side = max(height, width)
    rows = area_weights(size, height, (height - side) / 2, (height + side) / 2)  # (size, H)
    cols = area_weights(size, width, (width - side) / 2, (width + side) / 2)  # (size, W)
    return rows @ np.asarray(gray, dtype=np.float32) @ cols.T


def kept_interval(height: int, width: int, size: int, crop: str) -> tuple[float, float]:
    """The part of an image's padded square (side ``size`` after :func:`to_square`) that
    ``crop`` keeps, the same along both axes: [low, high) in square pixels."""
    if crop == "pad":
        return 0.0, float(size)
    if crop != "centre":
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    kept = size * min(height, width) / max(height, width)
    return (size - kept) / 2, (size + kept) / 2


def square_geometry(squares: np.ndarray, heights: np.ndarray, widths: np.ndarray, image_size: int, crop: str,
                    rows: np.ndarray | None = None) -> np.ndarray:
    """Squares float32 (N, C, C) -> float32 (M, S, S), S = ``image_size``: squares ``rows``
    (all when None; M of them), of images of ``heights`` x ``widths`` pixels (one per
    row), each the part ``crop`` keeps averaged by area to S. Images of one aspect ratio
    share one weight matrix, applied to at most ``GEOMETRY_CHUNK`` squares at a time, so
    that nothing the size of the squares is copied."""
    size = squares.shape[-1]
    rows = np.arange(len(squares)) if rows is None else np.asarray(rows)
    intervals = [kept_interval(int(height), int(width), size, crop) for height, width in zip(heights, widths)]
    if len(intervals) != len(rows):
        raise ValueError(f"{len(rows)} squares but {len(intervals)} image sizes")
    geometry = np.empty((len(rows), image_size, image_size), dtype=np.float32)
    groups: dict[tuple[float, float], list[int]] = {}
    for position, interval in enumerate(intervals):
        groups.setdefault(interval, []).append(position)
    for interval, positions in groups.items():
        weights = area_weights(image_size, size, *interval)  # (S, C)
        for start in range(0, len(positions), GEOMETRY_CHUNK):
            chunk = positions[start:start + GEOMETRY_CHUNK]
            geometry[chunk] = weights @ squares[rows[chunk]] @ weights.T
    return geometry


def against_background(images: np.ndarray, method: str) -> np.ndarray:
    """float32 (N, S, S) as they are (``keep``), or (``border``) each pixel's absolute
    difference from its image's background level: the median of the image's outermost
    ring of pixels (N,)."""
    if method == "keep":
        return images
    if method != "border":
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {method!r}")
    ring = np.concatenate([images[:, 0, :], images[:, -1, :], images[:, 1:-1, 0], images[:, 1:-1, -1]], axis=1)
    level = np.median(ring, axis=1)[:, None, None]  # (N, 1, 1)
    return np.abs(images - level).astype(np.float32)


def intensity_range(images: np.ndarray) -> list[float]:
    """[low, high]: the least and greatest value of a set of images, which ``per_set``
    normalisation maps to 0 and 1."""
    return [float(images.min()), float(images.max())]


def normalise(images: np.ndarray, method: str, set_range: list[float]) -> np.ndarray:
    """float32 (N, S, S) -> [0, 1]. ``per_image``: (x - min) / (max - min) of each image (an
    image of one value becomes 0); ``per_set``: (x - low) / (high - low) with ``set_range``,
    clipped (new images may reach beyond the ingested set's range)."""
    if method == "per_image":
        low = images.min(axis=(1, 2), keepdims=True)
        span = images.max(axis=(1, 2), keepdims=True) - low
        return np.where(span > 0, (images - low) / np.where(span > 0, span, 1), 0).astype(np.float32)
    if method != "per_set":
        raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {method!r}")
    low, high = set_range
    if not high > low:
        raise ValueError(f"every ingested image holds the one value {low}: normalise = per_set needs a range of "
                         "intensities")
    return np.clip((images - low) / (high - low), 0.0, 1.0).astype(np.float32)


def circular_mask(size: int) -> np.ndarray:
    """bool (size, size): the pixels whose centres lie within the inscribed circle."""
    centre = (size - 1) / 2
    rows, cols = np.mgrid[:size, :size]
    return (rows - centre) ** 2 + (cols - centre) ** 2 <= (size / 2) ** 2


def finish_images(geometry: np.ndarray, front_end: dict) -> np.ndarray:
    """Resized images (N, S, S) -> the model's input: against the background, normalised,
    then masked."""
    contrast = against_background(geometry, front_end["background"])
    images = normalise(contrast, front_end["normalise"], front_end["intensity_range"])
    if front_end["circular_mask"]:
        images = images * circular_mask(images.shape[-1])
    return images


def prepare_images(batch: RawImageBatch, front_end: dict) -> np.ndarray:
    """New images -> float32 (B, S, S) in [0, 1], by the functions ingestion applies: the
    squares of the ingested cache size, then the geometry and intensities of the ingested
    set. ``images`` batches hold float32 gray (H, W) of any size (this domain's reader),
    ``png`` batches uint8 (B, H, W) (the shared PNG reader, / 255). An image whose shorter
    side is below ``min_side_pixels`` is an error naming it."""
    size = front_end["cache_size"]
    squares = np.empty((len(batch), size, size), dtype=np.float32)  # (B, C, C)
    shapes = []
    for index, (source, pixels) in enumerate(zip(batch.sources, batch.pixels)):
        gray = np.asarray(pixels, dtype=np.float32)  # one image at a time: no second full-size copy of the batch
        if batch.format == "png":
            gray = gray / np.float32(255.0)
        if min(gray.shape) < front_end["min_side_pixels"]:
            raise ValueError(f"{source}: {gray.shape[1]}x{gray.shape[0]} pixels (W x H), below images.ingestion."
                             f"min_side_pixels = {front_end['min_side_pixels']}")
        squares[index] = to_square(gray, size)
        shapes.append(gray.shape)
    heights, widths = np.array(shapes, dtype=np.int64).reshape(-1, 2).T
    geometry = square_geometry(squares, heights, widths, front_end["image_size"], front_end["crop"])
    return finish_images(geometry, front_end)
