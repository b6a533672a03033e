"""The ``training`` parameter section (``conf/base/parameters_training.yml``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd

from irl_inr.models.irl_inr import IRLINRConfig
from irl_inr.parameters import ImageRequirement, Parameters
from irl_inr.training import TrainingConfig


@dataclasses.dataclass(frozen=True)
class TrainingParameters(Parameters):
    """``training``: which named configuration to train, on which split, and the named
    configurations themselves (each a ``model`` and an ``optimisation`` block)."""

    section = "training"
    config: str = "fast"
    split: str = "all"
    checkpoint_dir: str = "data/06_models/checkpoints"
    progress: bool = True
    configurations: dict = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        if self.split not in ("all", "train", "test"):
            self.fail("split", "must be 'all', 'train' or 'test'")
        if self.config not in self.configurations:
            self.fail("config", f"is not one of the named configurations {sorted(self.configurations)}")
        for name in self.configurations:
            self.selected(name)

    def check_images(self, table: pd.DataFrame) -> list[ImageRequirement]:
        _, optimisation = self.selected()
        if not optimisation.drop_last:
            return [ImageRequirement("training.split", self.split, self.split, 1, "training needs images")]
        return [ImageRequirement(
            f"training.configurations.{self.config}.optimisation.batch_size", optimisation.batch_size, self.split,
            optimisation.batch_size, "an epoch trains on full batches only",
        )]

    def selected(self, name: str | None = None) -> tuple[IRLINRConfig, TrainingConfig]:
        """The (model config, optimisation config) of a named configuration (default: the
        chosen one); errors name the configuration's block."""
        name = self.config if name is None else name
        block = self.configurations[name]
        unknown = sorted(set(block) - {"model", "optimisation"})
        if unknown:
            raise ValueError(f"training.configurations.{name}: unknown block(s) {unknown}; expected model, optimisation")
        if "channels" in (block.get("model") or {}):
            raise ValueError(f"training.configurations.{name}.model.channels: not a parameter; the channel count is "
                             "read off the images")
        try:
            model = IRLINRConfig.from_dict(block.get("model") or {})
        except ValueError as error:
            raise ValueError(f"training.configurations.{name}.model: {error}") from error
        try:
            optimisation = TrainingConfig.from_dict(block.get("optimisation") or {})
        except ValueError as error:
            raise ValueError(f"training.configurations.{name}.optimisation: {error}") from error
        return model, optimisation


VALIDATORS: dict[str, Callable[[Any], Any]] = {"training": TrainingParameters.from_dict}
