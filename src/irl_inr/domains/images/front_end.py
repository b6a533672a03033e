"""Images of any size, gray (H, W) or colour (3, H, W) -> the model's input, float32
(N, S, S) gray or (N, 3, S, S) colour (R, G, B) in [0, 1]; the same functions for
ingestion and for new images.

The steps, so that ingestion can keep the first one's result in its cache:

1. :func:`to_square`: each image is padded with black to a centred square and averaged
   by area to the cache size C, each channel alike, whatever its own size: (C, C) gray
   or (3, C, C) colour; a batch of them is colour (N, 3, C, C) when any image is, the
   gray ones' three channels equal;
2. :func:`in_channels`: the squares in the set's channels (``channels`` of the front
   end, 1 or 3): gray squares copied to three equal channels for a colour set, colour
   ones turned into their luminance (0.299 R + 0.587 G + 0.114 B) for a gray set;
3. :func:`square_geometry`: the part of each square that ``crop`` keeps (``centre``: the
   centred square of the image's shorter side; ``pad``: all of it) averaged by area to
   S, each channel alike;
4. :func:`against_background`: with ``background: border``, every pixel replaced by its
   distance from its image's background level (the median of its outermost ring of
   pixels), each channel from its own level, so that whatever stands out from the
   background is bright whichever way it differs (a wafer map's defects drawn darker than
   its light grey surround, a dark particle on a light field);
5. :func:`normalise_and_mask`: the intensities normalised to [0, 1] over all channels
   together, so that a colour keeps its ratios (``per_image``: each image's own minimum
   and maximum; ``per_set``: the range of the ingested set, which new images keep) and,
   with ``circular_mask``, everything outside the inscribed circle set to 0 in every
   channel.

Steps 2 to 4 run :data:`CHUNK_BYTES` of squares at a time (:func:`contrast_images`), so
that a set of any size needs no more memory than its output.

A front end is a dict (``new_image_front_end``): ``image_size``, ``crop``,
``circular_mask``, ``background``, ``normalise``, ``min_side_pixels``, ``cache_size``,
``channels`` (1 or 3) and ``intensity_range`` [low, high] (the ingested set's, after the
background step and before normalisation)."""

from __future__ import annotations

import mmap

import numpy as np

from irl_inr.domains.domain import RawImageBatch
from irl_inr.domains.images import reading

CROPS = ("centre", "pad")
NORMALISATIONS = ("per_image", "per_set")
BACKGROUNDS = ("keep", "border")
CHANNEL_MODES = ("auto", "gray", "colour")
COLOUR = 3  # channels of a colour image: R, G, B
LUMINANCE = np.array(reading.LUMINANCE, dtype=np.float32)  # ITU-R 601 weights of R, G, B
CHUNK_BYTES = 64 << 20  # squares taken at once (memory only, not results)


def area_weights(target: int, source: int, low: float, high: float) -> np.ndarray:
    """float32 (target, source): output pixel i is the mean of [low + i·step, low + (i+1)·step)
    (step = (high - low) / target) in source coordinates, where source pixel j spans
    [j, j + 1); each source pixel weighs its overlap, and what lies outside [0, source)
    counts as black (padding)."""
    edges = low + (high - low) * np.arange(target + 1, dtype=np.float64) / target  # (target + 1,)
    pixel = np.arange(source, dtype=np.float64)[None, :]  # (1, source)
    overlap = np.minimum(edges[1:, None], pixel + 1) - np.maximum(edges[:-1, None], pixel)  # (target, source)
    return (np.clip(overlap, 0.0, None) / ((high - low) / target)).astype(np.float32)


def to_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """float32 (H, W) or (3, H, W) -> (size, size) or (3, size, size): the image padded with
    black to the centred square of side max(H, W), averaged by area to ``size``, each
    channel alike (one matrix per axis, no padded copy)."""
    height, width = pixels.shape[-2:]
    side = max(height, width)
    rows = area_weights(size, height, (height - side) / 2, (height + side) / 2)  # (size, H)
    cols = area_weights(size, width, (width - side) / 2, (width + side) / 2)  # (size, W)
    return rows @ np.asarray(pixels, dtype=np.float32) @ cols.T


def luminance(colour: np.ndarray) -> np.ndarray:
    """float32 (N, 3, ...) R, G, B -> (N, ...): 0.299 R + 0.587 G + 0.114 B."""
    return colour[:, 0] * LUMINANCE[0] + colour[:, 1] * LUMINANCE[1] + colour[:, 2] * LUMINANCE[2]


def in_channels(squares: np.ndarray, colour_rows: np.ndarray, channels: int) -> np.ndarray:
    """Squares as decoded, float32 (N, C, C) gray or (N, 3, C, C) colour (``colour_rows``,
    bool (N,): the images stored in colour; the others' three channels are equal) -> the
    set's ``channels``: (N, 3, C, C) for 3, gray squares copied to each channel; (N, C, C)
    for 1, colour ones as their :func:`luminance`, gray ones as they are."""
    if squares.ndim == 3:
        return np.repeat(squares[:, None], COLOUR, axis=1) if channels == COLOUR else squares
    if channels == COLOUR:
        return squares
    gray = squares[:, 0].copy()
    colour_rows = np.asarray(colour_rows, dtype=bool)
    if colour_rows.any():
        gray[colour_rows] = luminance(squares[colour_rows])
    return gray


def kept_interval(height: int, width: int, size: int, crop: str) -> tuple[float, float]:
    """The part of an image's padded square (side ``size`` after :func:`to_square`) that
    ``crop`` keeps, the same along both axes: [low, high) in square pixels."""
    if crop == "pad":
        return 0.0, float(size)
    if crop != "centre":
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    kept = size * min(height, width) / max(height, width)
    return (size - kept) / 2, (size + kept) / 2


def square_geometry(squares: np.ndarray, heights: np.ndarray, widths: np.ndarray, image_size: int,
                    crop: str) -> np.ndarray:
    """Squares float32 (N, C, C) or (N, 3, C, C) -> (N, S, S) or (N, 3, S, S), S =
    ``image_size``: of images of ``heights`` x ``widths`` pixels (one per square), each the
    part ``crop`` keeps averaged by area to S, each channel alike. Images of one aspect
    ratio share one weight matrix."""
    size = squares.shape[-1]
    intervals = [kept_interval(int(height), int(width), size, crop) for height, width in zip(heights, widths)]
    if len(intervals) != len(squares):
        raise ValueError(f"{len(squares)} squares but {len(intervals)} image sizes")
    geometry = np.empty((*squares.shape[:-2], image_size, image_size), dtype=np.float32)
    groups: dict[tuple[float, float], list[int]] = {}
    for position, interval in enumerate(intervals):
        groups.setdefault(interval, []).append(position)
    for interval, positions in groups.items():
        weights = area_weights(image_size, size, *interval)  # (S, C)
        geometry[positions] = weights @ squares[positions] @ weights.T
    return geometry


def channels_of(front_end: dict) -> int:
    """A front end's (or a ``set_reference``'s) ``channels``: 1 where it has none (made
    before colour was kept, when every set was gray)."""
    return int(front_end.get("channels", 1))


def release_pages(array: np.ndarray) -> None:
    """Drop the pages of a read-only memory-mapped array from this process's resident
    memory (the file's pages stay in the operating system's cache; reading them maps
    them back): reading a large cache chunk by chunk then holds one chunk, not the file.
    Anything else is left as it is."""
    mapping = getattr(array, "_mmap", None)  # numpy.memmap's mapping, shared by its slices
    if isinstance(array, np.memmap) and array.mode == "r" and mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
        mapping.madvise(mmap.MADV_DONTNEED)


def chunk_length(array: np.ndarray) -> int:
    """Images of ``array`` (N, ...) in :data:`CHUNK_BYTES` (at least one)."""
    return max(1, CHUNK_BYTES // max(1, array[0].nbytes))


def contrast_images(squares: np.ndarray, colour_rows: np.ndarray, heights: np.ndarray, widths: np.ndarray,
                    front_end: dict, rows: np.ndarray | None = None) -> np.ndarray:
    """Squares (N, C, C) or (N, 3, C, C) (a memory-mapped cache, read chunk by chunk) ->
    float32 (M, S, S) or (M, 3, S, S): squares ``rows`` (all when None; M of them; one
    ``colour_rows``, ``heights`` and ``widths`` entry each) in the front end's
    ``channels``, ``crop`` to ``image_size`` and ``background`` (steps 2 to 4 of the
    module docstring), :data:`CHUNK_BYTES` of squares at a time."""
    rows = np.arange(len(squares)) if rows is None else np.asarray(rows)
    colour_rows, heights, widths = np.asarray(colour_rows, bool), np.asarray(heights), np.asarray(widths)
    if not len(rows) == len(colour_rows) == len(heights) == len(widths):
        raise ValueError(f"{len(rows)} squares but {len(heights)} image sizes and {len(colour_rows)} colour flags")
    size, channels = front_end["image_size"], channels_of(front_end)
    images = np.empty((len(rows), *((COLOUR,) if channels == COLOUR else ()), size, size), dtype=np.float32)
    step = chunk_length(squares)
    for start in range(0, len(rows), step):
        part = slice(start, start + step)
        chunk = np.asarray(squares[rows[part]])  # a copy of the chunk
        release_pages(squares)
        layered = in_channels(chunk, colour_rows[part], channels)
        geometry = square_geometry(layered, heights[part], widths[part], size, front_end["crop"])
        images[part] = against_background(geometry, front_end["background"])
    return images


def against_background(images: np.ndarray, method: str) -> np.ndarray:
    """float32 (N, S, S) or (N, 3, S, S) as they are (``keep``), or (``border``) each
    pixel's absolute difference from its image's background level in its channel: the
    median of the channel's outermost ring of pixels."""
    if method == "keep":
        return images
    if method != "border":
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {method!r}")
    ring = np.concatenate([images[..., 0, :], images[..., -1, :], images[..., 1:-1, 0], images[..., 1:-1, -1]],
                          axis=-1)
    level = np.median(ring, axis=-1)[..., None, None]  # (N, 1, 1) or (N, 3, 1, 1)
    return np.abs(images - level).astype(np.float32)


def intensity_range(images: np.ndarray) -> list[float]:
    """[low, high]: the least and greatest value of a set of images, which ``per_set``
    normalisation maps to 0 and 1."""
    return [float(images.min()), float(images.max())]


def normalise(images: np.ndarray, method: str, set_range: list[float]) -> np.ndarray:
    """float32 (N, S, S) or (N, 3, S, S) -> [0, 1], all channels of an image together.
    ``per_image``: (x - min) / (max - min) of each image (an image of one value becomes 0);
    ``per_set``: (x - low) / (high - low) with ``set_range``, clipped (new images may reach
    beyond the ingested set's range)."""
    if method == "per_image":
        axes = tuple(range(1, images.ndim))
        low = images.min(axis=axes, keepdims=True)
        span = images.max(axis=axes, keepdims=True) - low
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


def normalise_and_mask(images: np.ndarray, front_end: dict) -> np.ndarray:
    """Images against their background (N, S, S) or (N, 3, S, S) -> the model's input:
    normalised, then masked (step 5 of the module docstring)."""
    images = normalise(images, front_end["normalise"], front_end["intensity_range"])
    if front_end["circular_mask"]:
        images = images * circular_mask(images.shape[-1])
    return images


def prepare_images(batch: RawImageBatch, front_end: dict) -> np.ndarray:
    """New images -> float32 (B, S, S) or (B, 3, S, S) in [0, 1] (the ingested set's
    ``channels``: a gray image for a colour set copied to three channels, a colour one for
    a gray set as its luminance), by the functions ingestion applies: the squares of the
    ingested cache size, then the channels, geometry and intensities of the ingested set.
    ``images`` batches hold float32 gray (H, W) or colour (3, H, W) of any size (this
    domain's reader), ``png`` batches uint8 (B, H, W) (the shared PNG reader, / 255). An
    image whose shorter side is below ``min_side_pixels`` is an error naming it."""
    size = front_end["cache_size"]
    colour_rows = np.array([np.ndim(image) == 3 for image in batch.pixels], dtype=bool)
    shapes = np.array([np.shape(image)[-2:] for image in batch.pixels], dtype=np.int64).reshape(-1, 2)
    squares = np.empty((len(batch), *((COLOUR,) if colour_rows.any() else ()), size, size), dtype=np.float32)
    for index, (source, pixels, (height, width)) in enumerate(zip(batch.sources, batch.pixels, shapes)):
        if min(height, width) < front_end["min_side_pixels"]:
            raise ValueError(f"{source}: {width}x{height} pixels (W x H), below images.ingestion."
                             f"min_side_pixels = {front_end['min_side_pixels']}")
        image = np.asarray(pixels, dtype=np.float32)  # one at a time: no second full-size copy of the batch
        if batch.format == "png":
            image = image / np.float32(255.0)
        squares[index] = to_square(image, size)  # a gray square into a colour batch: copied to each channel
    return normalise_and_mask(contrast_images(squares, colour_rows, shapes[:, 0], shapes[:, 1], front_end), front_end)
