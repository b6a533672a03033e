"""The images domain's front end: a folder's decoded squares -> labelled, split images of
S x S in [0, 1], gray (N, S, S) or colour (N, 3, S, S) (``ingestion``) -> posed images and
their ``image_table`` (``augmentation``).

Labels come from the class of each file (its subfolder or its ``labels.csv`` row), coded
0..K-1 in sorted name order (numeric order when every name is a whole number, so that
classes ``0`` .. ``12`` keep their numbers); a folder without labels is one class
``unlabelled`` (label 0), as a cryo-EM stack without angles: clustered into
``clustering.n_clusters`` unscored, the measures that need labels left out with a
warning."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from irl_inr.domains.images.front_end import (
    COLOUR,
    channels_of,
    chunk_length,
    contrast_images,
    intensity_range,
    normalise_and_mask,
    release_pages,
)
from irl_inr.domains.images.parameters import ImageAugmentationParameters, ImageIngestionParameters
from irl_inr.geometry import pixels_to_normalised, transform_images
from irl_inr.tables import stratified_split

logger = logging.getLogger(__name__)

UNLABELLED = "unlabelled"
POSE_COLUMNS = ("rotation_radians", "shift_x_pixels", "shift_y_pixels")
IMAGE_COLUMNS = ("file", "frame", "mode", "colour", "height", "width")  # the cache's, kept in prepared_table
CONTRACT_COLUMNS = ("image_id", "label", "label_name", "split", *POSE_COLUMNS)
_NAMED = 5  # files or classes named in a log line


def _named(values: list) -> str:
    return ", ".join(map(str, values[:_NAMED])) + (", ..." if len(values) > _NAMED else "")


def kept_rows(table: pd.DataFrame, options: ImageIngestionParameters, source: str) -> np.ndarray:
    """Bool (N,): the images kept. Skipped, each kind counted in one warning: images whose
    shorter side is below ``min_side_pixels``, then the images of a class left with fewer
    than ``min_class_images``. None left is an error."""
    small = np.minimum(table["height"], table["width"]).to_numpy() < options.min_side_pixels
    if small.any():
        logger.warning("%s: skipped %d image(s) with a side below min_side_pixels = %d pixels: %s", source,
                       int(small.sum()), options.min_side_pixels, _named(table["file"][small].tolist()))
    keep = ~small
    classes = table["class_name"]
    if classes.notna().any():
        counts = classes[keep].value_counts()
        scarce = sorted(counts.index[counts < options.min_class_images].tolist())
        if scarce:
            logger.warning("%s: skipped %d class(es) with fewer than min_class_images = %d image(s): %s", source,
                           len(scarce), options.min_class_images,
                           _named([f"{name!r} ({counts[name]})" for name in scarce]))
            keep &= ~classes.isin(scarce).to_numpy()
    if not keep.any():
        raise ValueError(f"{source}: no image is left after the filters of images.ingestion (min_side_pixels, "
                         "min_class_images)")
    return keep


def class_order(names: list[str]) -> list[str]:
    """Class names sorted: by value when every one is a whole number (``2`` before ``10``),
    else by name."""
    if all(name.isdecimal() for name in names):
        return sorted(names, key=lambda name: (int(name), name))
    return sorted(names)


def label_codes(classes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Class names (None: unlabelled) -> label codes 0..K-1 in :func:`class_order` and the
    label names; every image ``unlabelled`` (label 0) when none has a class."""
    if classes.isna().all():
        return np.zeros(len(classes), dtype=np.int64), np.full(len(classes), UNLABELLED, dtype=object)
    names = class_order(classes.unique().tolist())
    return classes.map({name: code for code, name in enumerate(names)}).to_numpy(np.int64), classes.to_numpy(object)


def set_channels(mode: str, colour_rows: np.ndarray) -> int:
    """Channels of the prepared images: 3 (R, G, B) for ``colour``, and for ``auto`` when
    any kept image is stored in colour (``colour_rows``); else 1 (gray)."""
    return COLOUR if mode == "colour" or (mode == "auto" and bool(np.any(colour_rows))) else 1


def ingest_images(raw_images: dict, parameters: dict) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """A folder's squares (see ``ImageFolderDataset``) -> ``prepared_images`` float32 (N, S, S)
    gray or (N, 3, S, S) colour (``channels``) in [0, 1], ``prepared_table`` (``image_id``,
    ``label``, ``label_name``, ``split``, then each image's ``file``, ``frame``, ``mode``,
    ``colour``, ``height``, ``width``) and ``set_reference`` (``cache_size``, ``channels``
    and the set's ``intensity_range`` before normalisation), which new images are prepared
    with. The squares are read :data:`~irl_inr.domains.images.front_end.CHUNK_BYTES` at a
    time and the images finished in place: beyond the output, no image memory grows with N."""
    options = ImageIngestionParameters.from_dict(parameters)
    squares, table, source = raw_images["squares"], raw_images["table"], raw_images["source"]
    if len(squares) != len(table):
        raise ValueError(f"{source}: {len(squares)} images but {len(table)} rows in their table")
    cache_size = int(squares.shape[-1])
    if options.image_size > cache_size:
        raise ValueError(f"images.ingestion.image_size = {options.image_size} is above the {cache_size} pixels the "
                         f"images are cached at (images.raw_images cache_size in catalog_images.yml): raise "
                         f"cache_size to at least {options.image_size}, or they are only blown up")
    keep = kept_rows(table, options, source)
    table = table[keep].reset_index(drop=True)
    labels, names = label_codes(table["class_name"])
    rows, test_or_train = stratified_split(labels, options.test_fraction, np.random.default_rng(options.seed))
    split = np.empty(len(table), dtype=object)
    split[rows] = test_or_train
    colour_rows = table["colour"].to_numpy(bool)
    channels = set_channels(options.channels, colour_rows)
    settings = {"image_size": options.image_size, "crop": options.crop, "background": options.background,
                "channels": channels}
    images = contrast_images(squares, colour_rows, table["height"].to_numpy(), table["width"].to_numpy(), settings,
                             rows=np.flatnonzero(keep))
    reference = {"cache_size": cache_size, "channels": channels, "intensity_range": intensity_range(images)}
    front_end = new_front_end(options, reference)
    step = chunk_length(images)
    for start in range(0, len(images), step):
        images[start:start + step] = normalise_and_mask(images[start:start + step], front_end)
    prepared_table = pd.DataFrame({
        "image_id": np.arange(len(table), dtype=np.int64), "label": labels, "label_name": names.astype(str),
        "split": split.astype(str), **{column: table[column].to_numpy() for column in IMAGE_COLUMNS},
    })
    counts = prepared_table["label_name"].value_counts()
    logger.info("%s: %d images kept, %s, %d class(es): %s", source, len(prepared_table),
                "colour (R, G, B)" if channels == COLOUR else "gray", len(counts),
                _named([f"{name} {counts[name]}" for name in sorted(counts.index)]))
    return images, prepared_table, reference


def draw_poses(count: int, options: ImageAugmentationParameters) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded poses: rotation (N,) float64 radians uniform in [0, 2π) (0 without ``rotate``),
    shift (N, 2) pixels uniform in [-max_shift, max_shift]²."""
    generator = torch.Generator().manual_seed(options.seed)
    rotation = torch.rand(count, generator=generator, dtype=torch.float64) * (2 * math.pi if options.rotate else 0.0)
    shift = (torch.rand(count, 2, generator=generator, dtype=torch.float64) * 2 - 1) * options.max_shift_pixels
    return rotation, shift


def pose_images(prepared_images: np.ndarray, prepared_table: pd.DataFrame,
                parameters: dict) -> tuple[np.ndarray, pd.DataFrame]:
    """Prepared images (N, S, S) or (N, 3, S, S) -> ``images`` float32 of the same shape in
    [0, 1], each rotated (``rotate``) and shifted (``max_shift_pixels``) by its own seeded
    pose, every channel alike (bilinear; clockwise on screen, see ``geometry``), and
    ``image_table``: the prepared table with ``rotation_radians``, ``shift_x_pixels``,
    ``shift_y_pixels`` in front. A pose part not drawn is NaN (not known: the images keep
    the orientation or place they came in)."""
    options = ImageAugmentationParameters.from_dict(parameters)
    if len(prepared_images) != len(prepared_table):
        raise ValueError(f"{len(prepared_images)} images but {len(prepared_table)} rows in their table")
    rotation, shift = draw_poses(len(prepared_images), options)
    size = prepared_images.shape[-1]
    if options.rotate or options.max_shift_pixels > 0:
        images = np.empty(prepared_images.shape, dtype=np.float32)  # filled batch by batch: one copy of the set
        for start in range(0, len(prepared_images), options.batch_size):
            stop = start + options.batch_size
            batch = torch.from_numpy(np.array(prepared_images[start:stop], dtype=np.float32))
            release_pages(prepared_images)
            translation = pixels_to_normalised(shift[start:stop].float(), size)
            posed = transform_images(batch.view(len(batch), -1, size, size), rotation[start:stop].float(), translation)
            images[start:stop] = posed.view(batch.shape).clamp_(0.0, 1.0).numpy()  # (B, C, S, S) -> as prepared
    else:
        images = np.asarray(prepared_images, dtype=np.float32)  # as they came: no copy
    unknown = np.full(len(prepared_table), np.nan)
    poses = {
        "rotation_radians": rotation.numpy() if options.rotate else unknown,
        "shift_x_pixels": shift[:, 0].numpy() if options.max_shift_pixels > 0 else unknown,
        "shift_y_pixels": shift[:, 1].numpy() if options.max_shift_pixels > 0 else unknown,
    }
    table = prepared_table.assign(**poses)
    own = [column for column in table.columns if column not in CONTRACT_COLUMNS]
    return images, table[[*CONTRACT_COLUMNS, *own]]


def preview_rows(labels: np.ndarray, count: int, seed: int) -> list[int]:
    """Up to ``count`` rows, a seeded random member of each class in turn."""
    rng = np.random.default_rng(seed)
    members = [rng.permutation(np.flatnonzero(labels == label)).tolist() for label in np.unique(labels)]
    chosen: list[int] = []
    for rank in range(max(len(group) for group in members)):
        chosen += [group[rank] for group in members if rank < len(group)]
    return chosen[:count]


def _pose_title(row: pd.Series) -> str:
    rotation = "" if math.isnan(row["rotation_radians"]) else f"{math.degrees(row['rotation_radians']):.0f}°"
    shift = "" if math.isnan(row["shift_x_pixels"]) else f"({row['shift_x_pixels']:+.1f}, {row['shift_y_pixels']:+.1f})"
    return "\n".join(part for part in (rotation, shift) if part) or "as read"


def _show(axis, image: np.ndarray) -> None:
    """One image in [0, 1]: gray (S, S) on the gray scale, colour (3, S, S) as R, G, B."""
    if image.ndim == 3:
        axis.imshow(np.moveaxis(image, 0, -1).clip(0, 1))
    else:
        axis.imshow(image, cmap="gray", vmin=0, vmax=1)


def preview_images(prepared_images: np.ndarray, images: np.ndarray, image_table: pd.DataFrame,
                   parameters: dict) -> Figure:
    """Prepared images (top, titled with their class) above the posed ones (bottom, titled
    with the pose), a few of every class, drawn with the augmentation's seed."""
    options = ImageAugmentationParameters.from_dict(parameters)
    chosen = preview_rows(image_table["label"].to_numpy(), options.preview_count, options.seed)
    figure, axes = plt.subplots(2, len(chosen), figsize=(1.6 * len(chosen), 3.8), squeeze=False)
    for column, index in enumerate(chosen):
        row = image_table.iloc[index]
        _show(axes[0, column], prepared_images[index])
        _show(axes[1, column], images[index])
        axes[0, column].set_title(str(row["label_name"])[:16], fontsize=8)
        axes[1, column].set_title(_pose_title(row), fontsize=7)
        for axis in axes[:, column]:
            axis.set_axis_off()
    figure.suptitle("images: as prepared (top) and posed (bottom: rotation clockwise, shift in pixels)")
    figure.tight_layout()
    return figure


def new_front_end(options: ImageIngestionParameters, set_reference: dict) -> dict:
    """The front end (see ``irl_inr.domains.images.front_end``) of ``images.ingestion`` and
    the ingested set's ``set_reference``."""
    return {
        "domain": "images", "image_size": options.image_size, "crop": options.crop,
        "circular_mask": options.circular_mask, "background": options.background, "normalise": options.normalise,
        "min_side_pixels": options.min_side_pixels, "cache_size": int(set_reference["cache_size"]),
        "channels": channels_of(set_reference),
        "intensity_range": [float(value) for value in set_reference["intensity_range"]],
    }


def image_front_end(ingestion: dict, set_reference: dict) -> dict:
    """The images domain's front end for new images (``predict``): ``images.ingestion`` and
    what ingestion measured on the set (``set_reference``)."""
    return new_front_end(ImageIngestionParameters.from_dict(ingestion), set_reference)
