"""MNIST-U's own parameter sections, ``mnist_u.ingestion`` and ``mnist_u.augmentation``
(``conf/base/parameters_mnist_u.yml``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from irl_inr.parameters import Parameters


@dataclasses.dataclass(frozen=True)
class IngestionParameters(Parameters):
    section = "ingestion"
    seed: int = 0
    test_fraction: float = 0.2
    max_images: int | None = None

    def check(self) -> None:
        if not 0.0 <= self.test_fraction < 1.0:
            self.fail("test_fraction", "must be in [0, 1)")
        if self.max_images is not None and self.max_images < 10:
            self.fail("max_images", "must be at least 10 (one digit per class) or null for all")


@dataclasses.dataclass(frozen=True)
class AugmentationParameters(Parameters):
    section = "augmentation"
    image_size: int = 50
    max_shift_pixels: float = 5.0
    max_rotation_degrees: float = 360.0
    seed: int = 0
    batch_size: int = 1024
    preview_count: int = 12

    def check(self) -> None:
        if self.image_size < 28:
            self.fail("image_size", "must be at least 28, the size of an MNIST digit")
        if self.max_shift_pixels < 0:
            self.fail("max_shift_pixels", "must be non-negative")
        if self.max_shift_pixels > (self.image_size - 28) / 2 + 28 / 2:
            self.fail("max_shift_pixels", f"would move digits out of a {self.image_size}-pixel image")
        if not 0 <= self.max_rotation_degrees <= 360:
            self.fail("max_rotation_degrees", "must be in [0, 360]")
        if self.batch_size < 1:
            self.fail("batch_size", "must be positive")
        if self.preview_count < 1:
            self.fail("preview_count", "must be positive")


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "ingestion": IngestionParameters.from_dict, "augmentation": AugmentationParameters.from_dict,
}
