"""The ``embedding`` parameter section (``conf/base/parameters_embedding.yml``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd

from irl_inr.invariant_features import FEATURES
from irl_inr.parameters import ImageRequirement, Parameters, is_int
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
    # Closed-form rotation-invariant features measured beside the code (centred images only:
    # rings about the image centre), and their polar grid.
    closed_form_features: list = dataclasses.field(default_factory=list)
    polar_rings: int = 16
    polar_angles: int = 64
    angular_frequencies: int = 4
    linear_probe_folds: int = 5  # stratified folds of the linear read-out (labels used there only)

    def check(self) -> None:
        if self.split not in ("all", "train", "test"):
            self.fail("split", "must be 'all', 'train' or 'test'")
        for name in ("batch_size", "invariance_images", "invariance_poses", "neighbours", "figure_count"):
            if getattr(self, name) < 1:
                self.fail(name, "must be positive")
        if self.max_shift_pixels < 0:
            self.fail("max_shift_pixels", "must be non-negative")
        features = self.closed_form_features
        if isinstance(features, str) or not isinstance(features, list | tuple):
            self.fail("closed_form_features", f"must be a list of names among {list(FEATURES)} (or empty)")
        unknown = [name for name in features if name not in FEATURES]
        if unknown or len(set(features)) != len(features):
            self.fail("closed_form_features", f"must name different features among {list(FEATURES)}, got {list(features)}")
        for name, minimum in (("polar_rings", 1), ("polar_angles", 8), ("linear_probe_folds", 2)):
            if not is_int(getattr(self, name)) or getattr(self, name) < minimum:
                self.fail(name, f"must be an integer of at least {minimum}")
        if not is_int(self.angular_frequencies) or not 0 <= self.angular_frequencies <= self.polar_angles // 2:
            self.fail("angular_frequencies", f"must be an integer in [0, polar_angles / 2 = {self.polar_angles // 2}]")

    def check_images(self, table: pd.DataFrame) -> list[ImageRequirement]:
        rows = rows_of_split(table, self.split)
        needs = [ImageRequirement("embedding.split", self.split, self.split, 1, "the codes of these images")]
        if not is_unlabelled(table["label"].to_numpy()[rows]):
            needs.append(ImageRequirement("embedding.neighbours", self.neighbours, self.split, self.neighbours + 1,
                                          "the neighbours whose labels neighbour_acc compares"))
        return needs


VALIDATORS: dict[str, Callable[[Any], Any]] = {"embedding": EmbeddingParameters.from_dict}
