"""Typed, validated views of the parameter sections in ``conf/base/parameters_*.yml``.

Each section becomes a frozen dataclass; an unknown key or a value out of range is a
``ValueError`` that names the parameter (``augmentation.max_shift_pixels: ...``).
The project hook validates every section a pipeline uses before its first node
runs; nodes build the same dataclasses from the dicts they receive."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Self


@dataclasses.dataclass(frozen=True)
class Parameters:
    """Base: ``from_dict`` rejects unknown keys; subclasses check ranges in ``check``."""

    section = "parameters"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Self:
        values = dict(values or {})
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{cls.section}: unknown parameter(s) {unknown}; known: {sorted(known)}")
        try:
            instance = cls(**values)
        except TypeError as error:
            raise ValueError(f"{cls.section}: {error}") from error
        instance.check()
        return instance

    def check(self) -> None:
        """Raise ``ValueError`` naming the parameter that is out of range."""

    def fail(self, name: str, problem: str) -> None:
        raise ValueError(f"{self.section}.{name} = {getattr(self, name)!r}: {problem}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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

    def selected(self, name: str | None = None):
        """The (model config, optimisation config) of a named configuration (default: the
        chosen one); errors name the configuration's block."""
        from irl_inr.models.irl_inr import IRLINRConfig
        from irl_inr.training import TrainingConfig

        name = self.config if name is None else name
        block = self.configurations[name]
        unknown = sorted(set(block) - {"model", "optimisation"})
        if unknown:
            raise ValueError(f"training.configurations.{name}: unknown block(s) {unknown}; expected model, optimisation")
        try:
            model = IRLINRConfig.from_dict(block.get("model") or {})
        except ValueError as error:
            raise ValueError(f"training.configurations.{name}.model: {error}") from error
        try:
            optimisation = TrainingConfig.from_dict(block.get("optimisation") or {})
        except ValueError as error:
            raise ValueError(f"training.configurations.{name}.optimisation: {error}") from error
        return model, optimisation


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
    n_clusters: int = 10
    seed: int = 0
    figure_count: int = 12

    def check(self) -> None:
        if self.split not in ("all", "train", "test"):
            self.fail("split", "must be 'all', 'train' or 'test'")
        for name in ("batch_size", "invariance_images", "invariance_poses", "neighbours", "n_clusters", "figure_count"):
            if getattr(self, name) < 1:
                self.fail(name, "must be positive")
        if self.max_shift_pixels < 0:
            self.fail("max_shift_pixels", "must be non-negative")


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "ingestion": IngestionParameters.from_dict,
    "augmentation": AugmentationParameters.from_dict,
    "training": TrainingParameters.from_dict,
    "embedding": EmbeddingParameters.from_dict,
}


def validate_parameters(parameters: Mapping[str, Any]) -> None:
    """Validate every known top-level section present in ``parameters``."""
    for section, values in parameters.items():
        validator = VALIDATORS.get(section)
        if validator is not None:
            validator(values)
