"""Checks on a report's inputs and the matching of their rows by ``image_id``.

Rows are matched by ``image_id``: ``images`` follow ``image_table``; ``semantic_codes``,
``reconstructions`` and ``canonical_images`` follow ``predicted_poses`` (the embedded
split); ``cluster_assignments`` holds the clustered split. A wrong shape, a missing
column or an image id that another table lacks is a ``ValueError`` naming the dataset."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def require_columns(frame: pd.DataFrame, columns, name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a DataFrame, got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}; it has {list(frame.columns)}")


def image_stack(stack, rows: int, name: str, rows_of: str) -> np.ndarray:
    """A float array (N, S, S) (one channel) or (N, C, S, S) with one image per row of ``rows_of``."""
    stack = np.asarray(stack)
    if stack.ndim not in (3, 4) or stack.shape[-1] != stack.shape[-2]:
        raise ValueError(f"{name} must have shape (N, S, S) or (N, C, S, S), got {stack.shape}")
    if len(stack) != rows:
        raise ValueError(f"{name} has {len(stack)} images but {rows_of} has {rows} rows: they come from different runs")
    return stack


def id_rows(table: pd.DataFrame, name: str) -> pd.Series:
    """image_id -> row position in ``table``; image ids must be unique."""
    ids = table["image_id"].to_numpy()
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"{name} repeats image ids (e.g. {int(pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0])})")
    return pd.Series(np.arange(len(ids)), index=ids)


def rows_for(row_of: pd.Series, ids: np.ndarray, name: str, of: str) -> np.ndarray:
    known = np.isin(ids, row_of.index.to_numpy())
    if not known.all():
        raise ValueError(
            f"{name} lacks {int((~known).sum())} of the {len(ids)} images of {of} (first image_id "
            f"{int(ids[~known][0])}): every input must come from the same run"
        )
    return row_of[ids].to_numpy()


def check_known_labels(frame: pd.DataFrame, names: Mapping[int, str], name: str) -> None:
    unknown = sorted(set(frame["label"].astype("int64").tolist()) - set(names))
    if unknown:
        raise ValueError(f"{name} has label(s) {unknown[:10]} that image_table lacks: every input must come from the same run")


def label_names(image_table: pd.DataFrame) -> dict[int, str]:
    """label -> its name (``label_name`` when the table has it, else the label itself)."""
    labels = image_table["label"].astype("int64")
    if "label_name" not in image_table:
        return {int(label): str(label) for label in sorted(labels.unique())}
    pairs = pd.DataFrame({"label": labels, "name": image_table["label_name"].astype(str)}).drop_duplicates()
    clashes = pairs["label"][pairs["label"].duplicated()]
    if len(clashes):
        label = int(clashes.iloc[0])
        names = sorted(pairs.loc[pairs["label"] == label, "name"])
        raise ValueError(f"image_table gives label {label} more than one label_name: {names}")
    return {int(label): name for label, name in sorted(zip(pairs["label"], pairs["name"]))}
