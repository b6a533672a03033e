"""What a training run records and returns: its position (what a checkpoint holds besides
the weights), the per-epoch history, :class:`TrainingResult`, and the error raised when a
loss term or the gradient norm stops being finite."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd
import torch

GRAD_NORM = "grad_norm"
# History columns besides the loss terms; a loss term may not use these names.
RESERVED_COLUMNS = ("epoch", "step", GRAD_NORM, "seconds", "learning_rate")


class NonFiniteLossError(FloatingPointError):
    """A loss term (or the gradient norm, ``term == "grad_norm"``) was NaN or inf.

    ``step`` is the 1-based number of the optimiser step that failed (it was not
    taken), ``epoch`` the 1-based epoch, ``checkpoint_step`` the step of the last
    checkpoint on disk (``None`` if none was written or loaded)."""

    def __init__(
        self, message: str, *, term: str, value: float, step: int, epoch: int, checkpoint_step: int | None
    ) -> None:
        super().__init__(message)
        self.term = term
        self.value = value
        self.step = step
        self.epoch = epoch
        self.checkpoint_step = checkpoint_step


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """What :func:`fit` returns.

    ``state_dict``: final weights, detached CPU copies. ``history``: one row per
    completed epoch with columns ``epoch`` (1-based), ``step`` (optimiser steps done
    at its end), the mean of each loss term, ``grad_norm`` (mean pre-clipping
    gradient norm), ``seconds`` (wall time of the epoch, summed over resumed
    segments) and ``learning_rate`` (the first parameter group's rate at the epoch's
    last step). ``completed`` is False when ``stop_after_steps``
    ended the run early. ``resumed_from_step`` is the checkpoint's step, if one was
    loaded."""

    state_dict: dict[str, torch.Tensor]
    history: pd.DataFrame
    step: int
    epochs_completed: int
    completed: bool
    resumed_from_step: int | None
    device: str


@dataclasses.dataclass
class Position:
    """The mutable progress of a run: exactly what a checkpoint records besides weights."""

    step: int = 0  # optimiser steps done
    epoch: int = 0  # epochs completed (= index of the epoch in progress)
    batch_in_epoch: int = 0  # batches of that epoch done
    epoch_sums: dict[str, float] = dataclasses.field(default_factory=dict)
    epoch_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    epoch_seconds: float = 0.0
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)

    def start_epoch(self) -> None:
        self.epoch_sums, self.epoch_counts, self.epoch_seconds = {}, {}, 0.0

    def running_means(self) -> dict[str, float]:
        return {name: total / self.epoch_counts[name] for name, total in self.epoch_sums.items()}


def history_frame(rows: list[Mapping[str, float]]) -> pd.DataFrame:
    """History rows -> DataFrame: ``epoch, step, <loss terms>, grad_norm, seconds, learning_rate``."""
    terms: list[str] = []
    for row in rows:
        terms.extend(name for name in row if name not in RESERVED_COLUMNS and name not in terms)
    columns = ["epoch", "step", *terms, GRAD_NORM, "seconds", "learning_rate"]
    frame = pd.DataFrame([dict(row) for row in rows], columns=columns)
    return frame.astype({"epoch": "int64", "step": "int64"})
