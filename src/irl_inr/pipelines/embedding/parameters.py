"""The ``embedding`` parameter section (``conf/base/parameters_embedding.yml``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from irl_inr.parameters import Parameters


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


VALIDATORS: dict[str, Callable[[Any], Any]] = {"embedding": EmbeddingParameters.from_dict}
