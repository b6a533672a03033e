"""The images domain's own parameter sections, ``images.ingestion`` and
``images.augmentation``, and ``images.folder``, the folder the catalog reads (the shared
stages' sections are registered in ``irl_inr.parameter_registry``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Self

from irl_inr.domains.images.front_end import BACKGROUNDS, CHANNEL_MODES, CROPS, NORMALISATIONS
from irl_inr.parameters import Parameters


@dataclasses.dataclass(frozen=True)
class ImageIngestionParameters(Parameters):
    """Which images are kept, how they become S x S (gray or colour), and the train/test
    split."""

    section = "images.ingestion"
    channels: str = "auto"
    image_size: int = 32
    crop: str = "centre"
    circular_mask: bool = False
    background: str = "keep"
    normalise: str = "per_image"
    min_side_pixels: int = 8
    min_class_images: int = 2
    test_fraction: float = 0.2
    seed: int = 0

    def check(self) -> None:
        if self.channels not in CHANNEL_MODES:
            self.fail("channels", f"must be one of {list(CHANNEL_MODES)}")
        self.check_int("image_size", 8)
        if self.crop not in CROPS:
            self.fail("crop", f"must be one of {list(CROPS)}")
        self.check_bool("circular_mask")
        if self.background not in BACKGROUNDS:
            self.fail("background", f"must be one of {list(BACKGROUNDS)}")
        if self.normalise not in NORMALISATIONS:
            self.fail("normalise", f"must be one of {list(NORMALISATIONS)}")
        self.check_int("min_side_pixels", 1)
        self.check_int("min_class_images", 1)
        self.check_number("test_fraction", 0.0, 1.0, open_high=True)
        self.check_int("seed", 0)


@dataclasses.dataclass(frozen=True)
class ImageAugmentationParameters(Parameters):
    """The pose drawn for every image: a uniform rotation (``rotate``) and a uniform shift
    of up to ``max_shift_pixels`` along x and y, seeded."""

    section = "images.augmentation"
    rotate: bool = False
    max_shift_pixels: float = 0.0
    seed: int = 0
    batch_size: int = 1024
    preview_count: int = 8

    def check(self) -> None:
        self.check_bool("rotate")
        self.check_number("max_shift_pixels", 0.0)
        self.check_int("seed", 0)
        self.check_int("batch_size", 1)
        self.check_int("preview_count", 1)


@dataclasses.dataclass(frozen=True)
class FolderParameter(Parameters):
    """``images.folder``: the folder of images, a path (``--params images.folder=<path>``;
    the catalog reads it, default ``data/01_raw/images``). Its check takes the value itself
    (or a mapping ``{"folder": value}``)."""

    section = "images"
    folder: str = "data/01_raw/images"

    @classmethod
    def from_dict(cls, values: Any) -> Self:
        return super().from_dict(values if isinstance(values, Mapping) else {"folder": values})

    def check(self) -> None:
        if not self.folder.strip():
            self.fail("folder", "must name a folder")


VALIDATORS = {
    "ingestion": ImageIngestionParameters.from_dict,
    "augmentation": ImageAugmentationParameters.from_dict,
    "folder": FolderParameter.from_dict,
}
