"""Helpers on a domain's ``image_table`` (one row per image: ``image_id``, ``label``,
``split``, ...): which rows form a split, whether they are labelled, a seeded train/test
split stratified by label, and where given image ids stand in a table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def rows_of_split(table: pd.DataFrame, split: str) -> np.ndarray:
    """Row numbers of ``split`` ('train', 'test' or 'all') in table order; empty when no
    row has it."""
    if split == "all":
        return np.arange(len(table))
    return np.flatnonzero((table["split"] == split).to_numpy())


def is_unlabelled(labels: np.ndarray) -> bool:
    """One label class (or none): nothing to score clusters against or to supervise with."""
    return len(pd.unique(np.asarray(labels))) <= 1


def split_rows(images: np.ndarray, table: pd.DataFrame, split: str) -> np.ndarray:
    """Row numbers of ``split`` in table order, for ``images`` (one per row); a split
    without images is an error. No pixel is read."""
    if len(images) != len(table):
        raise ValueError(f"{len(images)} images but {len(table)} rows in their table")
    rows = rows_of_split(table, split)
    if not len(rows):
        raise ValueError(f"no image has split {split!r}; the table has {sorted(table['split'].unique())}")
    return rows


def select_split(images: np.ndarray, table: pd.DataFrame, split: str) -> tuple[np.ndarray, pd.DataFrame]:
    """The images and table rows of ``split`` ('train', 'test' or 'all'), in table order."""
    rows = split_rows(images, table, split)
    if split == "all":
        return images, table
    return images[rows], table.iloc[rows].reset_index(drop=True)


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator, quotas: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A train/test split stratified by label: class after class (sorted), its rows in an
    order drawn from ``rng``, at most ``quotas[class]`` of them (all when None), the first
    ``round(n * test_fraction)`` of the n kept 'test' and the rest 'train'.

    Returns (rows, 'train'/'test' per row), class after class."""
    classes = np.unique(labels)
    kept, split = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype="<U5")]
    for index, label in enumerate(classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        if quotas is not None:
            members = members[: quotas[index]]
        n_test = int(round(len(members) * test_fraction))
        kept.append(members)
        split.append(np.where(np.arange(len(members)) < n_test, "test", "train"))
    return np.concatenate(kept), np.concatenate(split)


def row_positions(table: pd.DataFrame, ids: np.ndarray, column: str = "image_id") -> np.ndarray:
    """The row number in ``table`` of every id in ``ids`` (matched on ``column``); -1 for
    an id the table lacks."""
    row_of = pd.Series(np.arange(len(table)), index=table[column].to_numpy())
    return row_of.reindex(np.asarray(ids)).fillna(-1).to_numpy(dtype=np.int64)


def has_six_and_nine(table: pd.DataFrame) -> bool:
    """Whether labels 6 and 9 of ``table`` are the digits 6 and 9 (by ``label_name`` where
    the table has one), so that a measure with 6 and 9 as one class means something."""
    labels = table["label"]
    if "label_name" not in table:
        return bool(labels.isin([6]).any() and labels.isin([9]).any())
    names = set(zip(labels.astype("int64"), table["label_name"].astype(str)))
    return {(6, "6"), (9, "9")} <= names
