"""WM-811K's front end: wafer maps of many shapes -> fixed-size die maps -> rotated images.

Die states are kept exact throughout (0 no die, 1 good die, 2 defective die): maps are
resized and rotated by nearest neighbour, and only then encoded as intensities.  The
nuisance is rotation alone (the translation stays zero, as in the IRL-INR paper): a
wafer is round and centred in its map, and its defect pattern may lie at any angle."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import torch
from matplotlib import pyplot as plt
from matplotlib.colors import LinearSegmentedColormap, ListedColormap
from matplotlib.figure import Figure

from irl_inr.geometry import transform_images
from irl_inr.domains.wm811k.parameters import (
    FAILURE_TYPES,
    UNLABELLED,
    WaferAugmentationParameters,
    WaferIngestionParameters,
)
from irl_inr.tables import stratified_split
from irl_inr.domains.wm811k.front_end import DIE_COLOURS, block_means, encode_die_states, resize_nearest

logger = logging.getLogger(__name__)

RAW_COLUMNS = ("row_id", "lot_name", "wafer_index", "die_size", "published_split", "failure_type")
PUBLISHED_SPLITS = {"Training": "train", "Test": "test"}
_LOGGED_ROW_IDS = 5  # row ids named in a log line about skipped wafers


def label_names(table: pd.DataFrame, source: str) -> np.ndarray:
    """The failure type of every wafer (``unlabelled`` where empty); an unknown one is an
    error naming the file and the row id."""
    names = table["failure_type"].astype(object).where(table["failure_type"].notna(), UNLABELLED).to_numpy()
    unknown = ~np.isin(names, (*FAILURE_TYPES, UNLABELLED))
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        raise ValueError(
            f"{source}: row {table['row_id'].iloc[first]}: unknown failure type {names[first]!r} "
            f"({int(unknown.sum())} row(s) in all); known: {list(FAILURE_TYPES)}"
        )
    return names


def _log_skipped(mask: np.ndarray, row_ids: np.ndarray, reason: str, source: str) -> None:
    if mask.any():
        logger.info(
            "%s: skipping %d wafer(s) %s (row ids %s%s)",
            source, int(mask.sum()), reason, row_ids[mask][:_LOGGED_ROW_IDS].tolist(),
            ", ..." if mask.sum() > _LOGGED_ROW_IDS else "",
        )


def select_wafers(
    names: np.ndarray, maps: list[np.ndarray], row_ids: np.ndarray, options: WaferIngestionParameters, source: str
) -> np.ndarray:
    """Indices of the wafers kept, in file order.  Skipped, each with a count in the log:
    maps without a single die (empty arrays included), unlabelled wafers
    (``labelled_only``), ``none`` (``drop_none``), types outside ``classes``, and beyond
    ``per_class_cap`` a seeded random choice per type."""
    empty = np.array([wafer_map.size == 0 or not wafer_map.any() for wafer_map in maps], dtype=bool)
    _log_skipped(empty, row_ids, "whose map holds no die", source)
    keep = ~empty
    filters = []
    if options.labelled_only:
        filters.append((names == UNLABELLED, "without a failure type (labelled_only)"))
    if options.drop_none:
        filters.append((names == "none", "of type 'none' (drop_none)"))
    if options.classes is not None:
        filters.append((~np.isin(names, list(options.classes)), f"of types outside classes {list(options.classes)}"))
    for dropped, reason in filters:
        _log_skipped(keep & dropped, row_ids, reason, source)
        keep &= ~dropped
    if options.per_class_cap is not None:
        rng = np.random.default_rng(options.seed)
        for name in ordered_classes(names[keep]):
            members = np.flatnonzero(keep & (names == name))
            if len(members) > options.per_class_cap:
                dropped = np.zeros(len(names), dtype=bool)
                dropped[rng.permutation(members)[options.per_class_cap :]] = True
                _log_skipped(dropped, row_ids, f"of type {name!r} beyond per_class_cap", source)
                keep &= ~dropped
    if not keep.any():
        raise ValueError(f"{source}: no wafer is left after the filters of wm811k.ingestion")
    return np.flatnonzero(keep)


def ordered_classes(names: np.ndarray) -> list[str]:
    """The types present, in the fixed order of ``FAILURE_TYPES`` then ``unlabelled``."""
    present = set(names.tolist())
    return [name for name in (*FAILURE_TYPES, UNLABELLED) if name in present]


def assign_splits(
    published: pd.Series, labels: np.ndarray, options: WaferIngestionParameters, source: str
) -> np.ndarray:
    """'train' / 'test' per wafer: with ``published_split`` the published ``trianTestLabel``
    (Training, Test) where present, elsewhere (and for every wafer without it) a seeded
    split stratified by label, ``test_fraction`` per class."""
    if not options.published_split:
        published = pd.Series([None] * len(published), index=published.index, dtype=object)
    split = published.map(PUBLISHED_SPLITS).to_numpy(dtype=object)
    other = published.notna().to_numpy() & pd.isna(split)
    if other.any():
        logger.info(
            "%s: %d wafer(s) with an unknown trianTestLabel %s get the stratified split",
            source, int(other.sum()), sorted(set(published[other].tolist()))[:_LOGGED_ROW_IDS],
        )
    missing = np.flatnonzero(pd.isna(split))
    rows, test_or_train = stratified_split(labels[missing], options.test_fraction, np.random.default_rng(options.seed))
    split[missing[rows]] = test_or_train
    return split.astype(str)


def ingest_wafers(raw_wafers: dict, parameters: dict) -> tuple[np.ndarray, pd.DataFrame]:
    """The converted WM-811K -> die maps uint8 (N, S * f, S * f) (0 no die, 1 good, 2
    defective; S = ``image_size``, f = ``supersample``)
    and a table with one row per map: ``image_id``, ``row_id`` (the original row),
    ``lot_name``, ``wafer_index``, ``die_size``, ``map_height``, ``map_width``,
    ``published_split``, ``label`` (0..K-1 in the order of ``FAILURE_TYPES`` over the
    types kept), ``label_name`` and ``split`` ('train' / 'test')."""
    options = WaferIngestionParameters.from_dict(parameters)
    table, maps, source = raw_wafers["table"], raw_wafers["maps"], raw_wafers["source"]
    missing = [column for column in RAW_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{source}: the wafer table lacks column(s) {missing}")
    if len(maps) != len(table):
        raise ValueError(f"{source}: {len(maps)} maps but {len(table)} rows in the wafer table")
    row_ids = table["row_id"].to_numpy()
    names = label_names(table, source)
    kept = select_wafers(names, maps, row_ids, options, source)
    names = names[kept]
    classes = ordered_classes(names)
    labels = np.array([classes.index(name) for name in names], dtype=np.int64)
    wafers = table.iloc[kept].reset_index(drop=True)
    side = options.image_size * options.supersample
    die_maps = np.empty((len(kept), side, side), dtype=np.uint8)
    for row, index in enumerate(kept):
        die_maps[row] = resize_nearest(maps[index], side)
    wafer_table = pd.DataFrame(
        {
            "image_id": np.arange(len(kept), dtype=np.int64),
            "row_id": wafers["row_id"].to_numpy(dtype=np.int64),
            "lot_name": wafers["lot_name"].astype(object).to_numpy(),
            "wafer_index": wafers["wafer_index"].to_numpy(dtype=np.float64),
            "die_size": wafers["die_size"].to_numpy(dtype=np.float64),
            "map_height": wafers["map_height"].to_numpy(dtype=np.int64),
            "map_width": wafers["map_width"].to_numpy(dtype=np.int64),
            "published_split": wafers["published_split"].astype(object).to_numpy(),
            "label": labels,
            "label_name": names.astype(str),
            "split": assign_splits(wafers["published_split"], labels, options, source),
        }
    )
    counts = wafer_table["label_name"].value_counts()
    logger.info(
        "%s: %d wafers kept, %d classes: %s", source, len(kept), len(classes),
        ", ".join(f"{name} {counts[name]}" for name in classes),
    )
    return die_maps, wafer_table


def draw_rotations(count: int, options: WaferAugmentationParameters) -> torch.Tensor:
    """Seeded rotation per wafer (N,) float64 radians, uniform in [0, max_rotation)."""
    generator = torch.Generator().manual_seed(options.seed)
    return torch.rand(count, generator=generator, dtype=torch.float64) * math.radians(options.max_rotation_degrees)


def rotate_wafers(
    die_maps: np.ndarray, wafer_table: pd.DataFrame, ingestion: dict, parameters: dict
) -> tuple[np.ndarray, pd.DataFrame]:
    """Die maps uint8 (N, S * f, S * f) -> ``images`` float32 (N, S, S) in [0, 1]: each
    wafer rotated about the centre by its own seeded angle (nearest neighbour, so die
    states stay exact; clockwise on screen, see ``geometry``), one intensity per die
    state, then the mean of every f x f block (f = ``wm811k.ingestion.supersample``: the
    turned dies' edges are anti-aliased, as a camera would see them); and ``image_table``:
    the wafer table plus ``rotation_radians`` and ``shift_x_pixels`` = ``shift_y_pixels`` = 0."""
    sizes = WaferIngestionParameters.from_dict(ingestion)
    options = WaferAugmentationParameters.from_dict(parameters)
    side = sizes.image_size * sizes.supersample
    if die_maps.ndim != 3 or die_maps.shape[1:] != (side, side):
        raise ValueError(
            f"die maps must have shape (N, {side}, {side}) (wm811k.ingestion.image_size x supersample), "
            f"got {die_maps.shape}: rerun ingestion"
        )
    if len(die_maps) != len(wafer_table):
        raise ValueError(f"{len(die_maps)} die maps but {len(wafer_table)} rows in the wafer table")
    rotation = draw_rotations(len(die_maps), options)
    images = np.empty((len(die_maps), sizes.image_size, sizes.image_size), dtype=np.float32)
    for start in range(0, len(die_maps), options.batch_size):
        batch = np.array(die_maps[start : start + options.batch_size])  # a copy: die_maps may be a read-only memory map
        states = torch.from_numpy(batch).float().unsqueeze(1)
        turned = transform_images(states, rotation[start : start + options.batch_size].float(), mode="nearest")
        intensities = encode_die_states(turned.squeeze(1).round().to(torch.uint8).numpy(), options.die_intensities)
        images[start : start + len(states)] = block_means(intensities, sizes.supersample)
    image_table = wafer_table.assign(
        rotation_radians=rotation.numpy(),
        shift_x_pixels=np.zeros(len(wafer_table)),
        shift_y_pixels=np.zeros(len(wafer_table)),
    )
    return images, image_table


def preview_indices(labels: np.ndarray, count: int) -> list[int]:
    """Up to ``count`` images, taking each class's first, second, ... member in turn."""
    members = [np.flatnonzero(labels == label).tolist() for label in np.unique(labels)]
    chosen: list[int] = []
    for rank in range(max(len(group) for group in members)):
        chosen += [group[rank] for group in members if rank < len(group)]
    return chosen[:count]


def die_shades(die_intensities) -> tuple[LinearSegmentedColormap, float, float]:
    """A colour map through the die states' colours at their intensities (a pixel between
    two states, where blocks are averaged, gets the colour between), and its range."""
    pairs = sorted(zip((float(value) for value in die_intensities), DIE_COLOURS))
    low, high = pairs[0][0], pairs[-1][0]
    span = (high - low) or 1.0
    return LinearSegmentedColormap.from_list("die_states", [((value - low) / span, colour) for value, colour in pairs]), low, high


def preview_wafers(die_maps: np.ndarray, images: np.ndarray, image_table: pd.DataFrame, parameters: dict) -> Figure:
    """Original (top) and rotated (bottom) wafers, a few of every class, with their
    failure type and rotation, in the die states' colours (``DIE_COLOURS``)."""
    options = WaferAugmentationParameters.from_dict(parameters)
    chosen = preview_indices(image_table["label"].to_numpy(), options.preview_count)
    states = ListedColormap(DIE_COLOURS)
    shades, low, high = die_shades(options.die_intensities)
    figure, axes = plt.subplots(2, len(chosen), figsize=(1.6 * len(chosen), 3.8), squeeze=False)
    for column, index in enumerate(chosen):
        row = image_table.iloc[index]
        axes[0, column].imshow(die_maps[index], cmap=states, vmin=0, vmax=2, interpolation="nearest")
        axes[1, column].imshow(images[index], cmap=shades, vmin=low, vmax=high, interpolation="nearest")
        axes[0, column].set_title(str(row["label_name"]), fontsize=8)
        axes[1, column].set_title(f"{math.degrees(row['rotation_radians']):.0f}°", fontsize=8)
        for axis in axes[:, column]:
            axis.set_axis_off()
    figure.suptitle("WM-811K: wafer maps (top) and rotated (bottom, clockwise); good dies green, defective red")
    figure.tight_layout()
    return figure


def wafer_front_end(ingestion: dict, augmentation: dict) -> dict:
    """WM-811K's front end for new wafers (``predict``): the map size and supersampling of
    ``wm811k.ingestion`` and the die intensities of ``wm811k.augmentation``."""
    sizes = WaferIngestionParameters.from_dict(ingestion)
    intensities = WaferAugmentationParameters.from_dict(augmentation).die_intensities
    return {"domain": "wm811k", "image_size": sizes.image_size, "supersample": sizes.supersample,
            "die_intensities": [float(value) for value in intensities]}
