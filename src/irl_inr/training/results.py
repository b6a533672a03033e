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

    @classmethod
    def of_step(
        cls, bad: Mapping[str, float], step: int, epoch: tuple[int, int], batch: tuple[int, int],
        checkpoint_step: int | None, path: object,
    ) -> NonFiniteLossError:
        """The error for 1-based ``step`` (``epoch`` and ``batch`` as (number, of)), whose
        non-finite values are ``bad``; it names the culprit term ("total" only if it alone
        is bad) and what is on disk (the checkpoint of ``checkpoint_step`` at ``path``)."""
        culprits = [name for name in bad if name not in ("total", GRAD_NORM)]
        term = culprits[0] if culprits else ("total" if "total" in bad else GRAD_NORM)
        what = "the gradient norm" if term == GRAD_NORM else f"loss term {term!r}"
        if checkpoint_step is not None:
            kept = f"the last good checkpoint (step {checkpoint_step}) is left untouched at {path}"
        elif path is not None:
            kept = f"no checkpoint had been written yet to {path}"
        else:
            kept = "no checkpoint path was given"
        message = (
            f"{what} is {bad[term]} at step {step} (epoch {epoch[0]}/{epoch[1]}, batch {batch[0]}/{batch[1]}; "
            "non-finite: " + ", ".join(f"{name}={value}" for name, value in bad.items())
            + f"); training stopped without taking that step, {kept}"
        )
        return cls(message, term=term, value=bad[term], step=step, epoch=epoch[0], checkpoint_step=checkpoint_step)


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

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping) -> Position:
        """The position a checkpoint recorded."""
        return cls(
            step=int(checkpoint["step"]),
            epoch=int(checkpoint["epoch"]),
            batch_in_epoch=int(checkpoint["batch_in_epoch"]),
            epoch_sums={str(k): float(v) for k, v in checkpoint["epoch_sums"].items()},
            epoch_counts={str(k): int(v) for k, v in checkpoint["epoch_counts"].items()},
            epoch_seconds=float(checkpoint["epoch_seconds"]),
            history=[dict(row) for row in checkpoint["history"]],
        )

    def inconsistency(self, batches: int, epochs: int) -> str | None:
        """What does not add up for a run of ``epochs`` epochs of ``batches`` batches, or None."""
        if (
            self.step != self.epoch * batches + self.batch_in_epoch
            or not 0 <= self.batch_in_epoch < batches
            or self.epoch > epochs
            or len(self.history) != self.epoch
        ):
            return (f"step {self.step}, epoch {self.epoch}, batch {self.batch_in_epoch} of {batches}, "
                    f"{len(self.history)} history rows")
        return None

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
