"""WM-811K's own parameter sections, ``wm811k.ingestion`` and ``wm811k.augmentation``
(the shared stages' sections are registered in ``irl_inr.parameter_registry``)."""

from __future__ import annotations

import dataclasses

from irl_inr.parameters import Parameters, is_int, is_number

# Failure types of WM-811K, in the order that numbers them (label codes 0..K-1 follow
# this order over the types kept); wafers without a label come last as "unlabelled".
FAILURE_TYPES = ("Center", "Donut", "Edge-Loc", "Edge-Ring", "Loc", "Near-full", "Random", "Scratch", "none")
UNLABELLED = "unlabelled"


@dataclasses.dataclass(frozen=True)
class WaferIngestionParameters(Parameters):
    """Which wafers are kept, and the fixed size their maps are brought to."""

    section = "wm811k.ingestion"
    image_size: int = 32
    supersample: int = 4
    labelled_only: bool = True
    drop_none: bool = True
    classes: list | None = None
    per_class_cap: int | None = None
    published_split: bool = False
    test_fraction: float = 0.2
    seed: int = 0

    def check(self) -> None:
        if not is_int(self.image_size) or self.image_size < 8:
            self.fail("image_size", "must be at least 8")
        if not is_int(self.supersample) or not 1 <= self.supersample <= 16:
            self.fail("supersample", "must be an integer in [1, 16] (1: one die state per pixel)")
        for name in ("labelled_only", "drop_none", "published_split"):
            if not isinstance(getattr(self, name), bool):
                self.fail(name, "must be true or false")
        if self.classes is not None:
            if isinstance(self.classes, str) or not isinstance(self.classes, list | tuple) or not self.classes:
                self.fail("classes", "must be a non-empty list of failure types or null for all")
            unknown = [name for name in self.classes if name not in (*FAILURE_TYPES, UNLABELLED)]
            if unknown:
                self.fail("classes", f"names unknown failure type(s) {unknown}; known: {[*FAILURE_TYPES, UNLABELLED]}")
            if self.drop_none and "none" in self.classes:
                self.fail("classes", "keeps 'none', which drop_none: true drops")
            if self.labelled_only and UNLABELLED in self.classes:
                self.fail("classes", f"keeps {UNLABELLED!r}, which labelled_only: true drops")
        if self.per_class_cap is not None and (not is_int(self.per_class_cap) or self.per_class_cap < 1):
            self.fail("per_class_cap", "must be a positive integer or null for no cap")
        if isinstance(self.test_fraction, bool) or not isinstance(self.test_fraction, int | float):
            self.fail("test_fraction", "must be a number in [0, 1)")
        if not 0.0 <= self.test_fraction < 1.0:
            self.fail("test_fraction", "must be in [0, 1)")
        if not is_int(self.seed) or self.seed < 0:
            self.fail("seed", "must be a non-negative integer")


@dataclasses.dataclass(frozen=True)
class WaferAugmentationParameters(Parameters):
    """The rotation drawn for every wafer, and how die states become intensities."""

    section = "wm811k.augmentation"
    max_rotation_degrees: float = 360.0
    seed: int = 0
    die_intensities: list = dataclasses.field(default_factory=lambda: [0.0, 0.25, 1.0])
    batch_size: int = 1024
    preview_count: int = 8

    def check(self) -> None:
        angle = self.max_rotation_degrees
        if isinstance(angle, bool) or not isinstance(angle, int | float) or not 0 <= angle <= 360:
            self.fail("max_rotation_degrees", "must be in [0, 360]")
        if not is_int(self.seed) or self.seed < 0:
            self.fail("seed", "must be a non-negative integer")
        values = self.die_intensities
        if (
            isinstance(values, str)
            or not isinstance(values, list | tuple)
            or len(values) != 3
            or not all(is_number(value) for value in values)
        ):
            self.fail("die_intensities", "must be three numbers: no die, good die, defective die")
        if not all(0.0 <= value <= 1.0 for value in values):
            self.fail("die_intensities", "must lie in [0, 1]")
        if len(set(values)) != 3:
            self.fail("die_intensities", "must differ, or die states could not be told apart")
        if values[0] != min(values):
            self.fail("die_intensities", "must keep 'no die' darkest (the background)")
        for name in ("batch_size", "preview_count"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                self.fail(name, "must be a positive integer")


VALIDATORS = {"ingestion": WaferIngestionParameters.from_dict, "augmentation": WaferAugmentationParameters.from_dict}
