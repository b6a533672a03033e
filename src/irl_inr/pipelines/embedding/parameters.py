"""The ``embedding`` parameter section (``conf/base/parameters_embedding.yml``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd

from irl_inr.parameters import ImageRequirement, Parameters
from irl_inr.tables import is_unlabelled, rows_of_split


@dataclasses.dataclass(frozen=True)
class EmbeddingParameters(Parameters):
    """``embedding``: how codes are extracted and measured."""

    section = "embedding"
    split: str = "all"
    device: str = "auto"
    batch_size: int = 256
    invariance_images: int = 1000
    invariance_poses: int = 4
    max_shift_pixels: float = 5.0
    neighbours: int = 20
    seed: int = 0
    figure_count: int = 12
    fast_encoder: bool = False

    def check(self) -> None:
        if self.split not in ("all", "train", "test"):
            self.fail("split", "must be 'all', 'train' or 'test'")
        for name in ("batch_size", "invariance_images", "invariance_poses", "neighbours", "figure_count"):
            if getattr(self, name) < 1:
                self.fail(name, "must be positive")
        if self.max_shift_pixels < 0:
            self.fail("max_shift_pixels", "must be non-negative")

    def check_images(self, table: pd.DataFrame) -> list[ImageRequirement]:
        rows = rows_of_split(table, self.split)
        needs = [ImageRequirement("embedding.split", self.split, self.split, 1, "the codes of these images")]
        if not is_unlabelled(table["label"].to_numpy()[rows]):
            needs.append(ImageRequirement("embedding.neighbours", self.neighbours, self.split, self.neighbours + 1,
                                          "the neighbours whose labels neighbour_acc compares"))
        return needs


VALIDATORS: dict[str, Callable[[Any], Any]] = {"embedding": EmbeddingParameters.from_dict}
