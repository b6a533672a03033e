"""The ``interpretation`` and ``isometry`` parameter sections
(``conf/base/parameters_interpretation.yml``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from irl_inr.parameters import ImageRequirement, Parameters, is_number
from irl_inr.tables import is_unlabelled, rows_of_split
from irl_inr.training import TrainingConfig


@dataclasses.dataclass(frozen=True)
class InterpretationParameters(Parameters):
    """``interpretation``: the flow over the codes, its training and its traversal figure.

    ``supervised``: the class factor (``class_dims`` coordinates of u, a Gaussian around a
    learned mean per label) plus a standard-normal residual; false: one standard-normal u;
    auto: supervised when the train rows hold at least two label classes (an unlabelled
    particle stack gets the plain flow).
    ``optimisation``: :class:`~irl_inr.training.TrainingConfig` fields laid over
    ``DEFAULT_OPTIMISATION``, with the section's ``seed``, ``device``, ``num_threads``."""

    section = "interpretation"
    DEFAULT_OPTIMISATION = {
        "epochs": 60, "batch_size": 256, "learning_rate": 1e-3, "betas": [0.9, 0.999], "checkpoint_every": 0,
    }
    supervised: bool | str = "auto"
    class_dims: int = 4
    blocks: int = 8
    hidden: int = 128
    scale_bound: float = 2.0
    permutation_seed: int = 0
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = 1
    checkpoint_dir: str = "data/06_models/checkpoints"
    progress: bool = False
    optimisation: dict = dataclasses.field(default_factory=dict)
    traversal_index: int = 0
    traversal_steps: int = 9
    traversal_extent: float = 2.5
    traversal_rows: int = 6

    def check(self) -> None:
        if self.supervised != "auto":
            self.check_bool("supervised")
        self.check_bool("progress")
        for name, minimum in (
            ("class_dims", 1), ("blocks", 1), ("hidden", 1), ("permutation_seed", 0), ("seed", 0),
            ("traversal_index", 0), ("traversal_steps", 2), ("traversal_rows", 1),
        ):
            self.check_int(name, minimum)
        for name in ("scale_bound", "traversal_extent"):
            if not is_number(getattr(self, name)) or getattr(self, name) <= 0:
                self.fail(name, "must be a positive number")
        if self.num_threads is not None:
            self.check_int("num_threads", 1)
        if not isinstance(self.checkpoint_dir, str) or not self.checkpoint_dir:
            self.fail("checkpoint_dir", "must be a directory path")
        self.training_config()

    def is_supervised(self, train_labels: np.ndarray) -> bool:
        """Whether the flow is supervised on these labels (those of the train rows):
        ``supervised`` itself, or with auto whether they hold two classes or more."""
        labelled = not is_unlabelled(train_labels)
        if self.supervised == "auto":
            return labelled
        if self.supervised and not labelled:
            self.fail(
                "supervised", f"needs at least 2 label classes among the {len(train_labels)} train rows, which hold "
                f"{len(np.unique(train_labels))}: set it to auto (supervised when labels exist) or false"
            )
        return self.supervised

    def check_images(self, table: pd.DataFrame) -> list[ImageRequirement]:
        self.is_supervised(table["label"].to_numpy()[rows_of_split(table, "train")])
        return [ImageRequirement("interpretation", "the train rows", "train", 1, "the flow is fitted to them")]

    def training_config(self) -> TrainingConfig:
        return TrainingConfig.of_section(
            self.section, self.DEFAULT_OPTIMISATION, self.optimisation, self.seed, self.device, self.num_threads
        )


@dataclasses.dataclass(frozen=True)
class IsometryParameters(Parameters):
    """``isometry``: the mean condition number of IRL-INR's decoder z -> canonical image,
    on ``sample_size`` codes drawn without replacement (seeded; all when fewer)."""

    section = "isometry"
    sample_size: int = 200
    batch_size: int = 16
    seed: int = 0
    device: str = "auto"

    def check(self) -> None:
        self.check_int("sample_size", 1)
        self.check_int("batch_size", 1)
        self.check_int("seed", 0)
        if not isinstance(self.device, str):
            self.fail("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "interpretation": InterpretationParameters.from_dict, "isometry": IsometryParameters.from_dict,
}
