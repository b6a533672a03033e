"""Typed, validated views of the parameter sections in ``conf/base/parameters_*.yml``.

Each section becomes a frozen dataclass; an unknown key, a value of the wrong type (each
field is checked against its annotation) or a value out of range is a ``ValueError``
that names the parameter (``augmentation.max_shift_pixels = 'abc': must be a number``).
The project hook validates every section a pipeline uses before its first node
runs; nodes build the same dataclasses from the dicts they receive."""

from __future__ import annotations

import dataclasses
import importlib
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from irl_inr.training import TrainingConfig


def is_int(value: Any) -> bool:
    """An integer, and not a bool (YAML's true/false are not numbers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float, and not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def type_problem(value: Any, annotation: Any) -> str | None:
    """What is wrong with ``value`` for a field annotated ``annotation`` (``int``,
    ``float``, ``bool``, ``str``, ``list``, ``dict``, a :class:`Parameters` section,
    ``X | None``, ``Any``), or None when it fits."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in arguments:
            return None
        problems = [type_problem(value, argument) for argument in arguments if argument is not type(None)]
        if None in problems:
            return None
        wanted = " or ".join(problem.removeprefix("must be ") for problem in problems)
        return f"must be {wanted}" + (" or null" if type(None) in arguments else "")
    kind = origin or annotation
    if kind is Any:
        return None
    if kind is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if kind is int:
        return None if is_int(value) else "must be an integer"
    if kind is float:
        return None if is_number(value) else "must be a finite number"
    if kind is str:
        return None if isinstance(value, str) else "must be a string"
    if kind in (list, tuple):
        return None if isinstance(value, list | tuple) else "must be a list"
    if kind is dict:
        return None if isinstance(value, Mapping) else "must be a mapping"
    if isinstance(kind, type) and issubclass(kind, Parameters):
        return None if value is None or isinstance(value, Mapping | kind) else "must be a mapping"
    raise TypeError(f"no type check for the annotation {annotation!r}")


@dataclasses.dataclass(frozen=True)
class Parameters:
    """Base: ``from_dict`` rejects unknown keys and values whose type does not fit the
    field's annotation; subclasses check ranges in ``check``."""

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
        instance.check_types()
        instance.check()
        return instance

    def check_types(self) -> None:
        """Raise ``ValueError`` naming the first field whose value does not fit its annotation."""
        annotations = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            problem = type_problem(getattr(self, field.name), annotations[field.name])
            if problem is not None:
                self.fail(field.name, problem)

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
    seed: int = 0
    figure_count: int = 12

    def check(self) -> None:
        if self.split not in ("all", "train", "test"):
            self.fail("split", "must be 'all', 'train' or 'test'")
        for name in ("batch_size", "invariance_images", "invariance_poses", "neighbours", "figure_count"):
            if getattr(self, name) < 1:
                self.fail(name, "must be positive")
        if self.max_shift_pixels < 0:
            self.fail("max_shift_pixels", "must be non-negative")


# The ``clustering`` section. Self-contained (plain ints and floats, lazy imports of the
# training config and DTI's names) so that it can move to ``irl_inr/parameters.py`` as is.


@dataclasses.dataclass(frozen=True)
class _ClusteringBlock(Parameters):
    """A block of the ``clustering`` section, with range checks that name its fields."""

    def _int(self, name: str, minimum: int) -> None:
        value = getattr(self, name)
        if not is_int(value):
            self.fail(name, "must be an integer")
        if value < minimum:
            self.fail(name, f"must be at least {minimum}")

    def _number(
        self, name: str, low: float | None = None, high: float | None = None, *, open_low: bool = False,
        open_high: bool = False,
    ) -> None:
        value = getattr(self, name)
        if not is_number(value):
            self.fail(name, "must be a finite number")
        if low is not None and (value < low or (open_low and value == low)):
            self.fail(name, f"must be {'>' if open_low else '>='} {low}")
        if high is not None and (value > high or (open_high and value == high)):
            self.fail(name, f"must be {'<' if open_high else '<='} {high}")

    def _bool(self, name: str) -> None:
        if not isinstance(getattr(self, name), bool):
            self.fail(name, "must be true or false")


@dataclasses.dataclass(frozen=True)
class _TrainedClusteringBlock(_ClusteringBlock):
    """A block trained with the project's loop. ``optimisation`` holds
    :class:`~irl_inr.training.TrainingConfig` fields laid over the block's defaults;
    ``seed`` and ``device`` default to the section's."""

    DEFAULT_OPTIMISATION: ClassVar[dict[str, Any]] = {}
    optimisation: dict = dataclasses.field(default_factory=dict)

    def training_config(self, seed: int = 0, device: str = "auto", num_threads: int | None = None) -> TrainingConfig:
        from irl_inr.training import TrainingConfig

        if not isinstance(self.optimisation, Mapping):
            self.fail("optimisation", "must be a mapping of training settings")
        threads = {} if num_threads is None else {"num_threads": num_threads}
        values = {**self.DEFAULT_OPTIMISATION, "seed": seed, "device": device, **threads, **self.optimisation}
        try:
            return TrainingConfig.from_dict(values)
        except ValueError as error:
            raise ValueError(f"{self.section}.optimisation: {error}") from error

    def check(self) -> None:
        self.training_config()


@dataclasses.dataclass(frozen=True)
class MiningParameters(_ClusteringBlock):
    """``clustering.mining``: SCAN's nearest neighbours, by cosine, on the IRL-INR codes."""

    section = "clustering.mining"
    neighbours: int = 20

    def check(self) -> None:
        self._int("neighbours", 1)


@dataclasses.dataclass(frozen=True)
class ScanParameters(_TrainedClusteringBlock):
    """``clustering.scan``: the SCAN heads over the IRL-INR encoder."""

    section = "clustering.scan"
    DEFAULT_OPTIMISATION: ClassVar[dict[str, Any]] = {
        "epochs": 40, "batch_size": 256, "learning_rate": 1e-3, "betas": [0.9, 0.999], "weight_decay": 1e-4,
        "checkpoint_every": 200,
    }
    n_heads: int = 10
    entropy_weight: float = 5.0
    train_features: bool = False
    cached_views: int = 8
    head_hidden: int = 128
    rotate: bool = True
    max_shift_pixels: float = 5.0
    optimisation: dict = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        self._int("n_heads", 1)
        self._number("entropy_weight", 0)
        self._bool("train_features")
        self._int("cached_views", 0)
        self._int("head_hidden", 0)
        if self.cached_views and self.train_features:
            self.fail("cached_views", "needs train_features: false (cached codes come from a frozen encoder); set it to 0")
        self._bool("rotate")
        self._number("max_shift_pixels", 0)
        super().check()


@dataclasses.dataclass(frozen=True)
class SelfLabelParameters(_TrainedClusteringBlock):
    """``clustering.selflabel``: SCAN's self-labelling, from the best SCAN head."""

    section = "clustering.selflabel"
    DEFAULT_OPTIMISATION: ClassVar[dict[str, Any]] = {
        "epochs": 2, "batch_size": 256, "learning_rate": 1e-3, "betas": [0.9, 0.999], "weight_decay": 1e-4,
        "checkpoint_every": 20,
    }
    threshold: float = 0.9
    class_balance: bool = True
    train_features: bool = False
    rotate: bool = True
    max_shift_pixels: float = 5.0
    contrast: float = 0.2
    noise_std: float = 0.05
    cutout_size: float = 0.25
    optimisation: dict = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        self._number("threshold", 0, 1)
        self._bool("class_balance")
        self._bool("train_features")
        self._bool("rotate")
        self._number("max_shift_pixels", 0)
        self._number("contrast", 0, 1, open_high=True)
        self._number("noise_std", 0)
        self._number("cutout_size", 0, 1)
        super().check()


@dataclasses.dataclass(frozen=True)
class DTIParameters(_TrainedClusteringBlock):
    """``clustering.dti``: DTI clustering (transformed prototypes in pixel space).

    Trained on ``train_images`` images drawn at random (null: all) at 1/``downsample`` of
    the resolution; every image is then assigned."""

    section = "clustering.dti"
    DEFAULT_OPTIMISATION: ClassVar[dict[str, Any]] = {
        "epochs": 8, "batch_size": 64, "learning_rate": 5e-3, "betas": [0.9, 0.999], "checkpoint_every": 20,
    }
    transformations: list = dataclasses.field(default_factory=lambda: ["rotation", "translation", "scale"])
    rotation_hypotheses: int = 4
    downsample: int = 2
    train_images: int | None = 1000
    init: str = "kmeans++"
    init_subsample: int = 1000
    max_translation: float = 0.5
    max_scale: float = 1.5
    channels: list = dataclasses.field(default_factory=lambda: [16, 32, 64])
    hidden: int = 64
    reassign_every: int = 10
    min_cluster_share: float = 0.01
    optimisation: dict = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        from irl_inr.models.dti import INITIALISATIONS, TRANSFORMATIONS

        names = self.transformations
        if isinstance(names, str) or not isinstance(names, list | tuple) or not names:
            self.fail("transformations", f"must be a non-empty list of {list(TRANSFORMATIONS)}")
        if any(name not in TRANSFORMATIONS for name in names) or ("identity" in names and len(set(names)) > 1):
            self.fail("transformations", f"must name {list(TRANSFORMATIONS)} ('identity' alone)")
        self._int("rotation_hypotheses", 1)
        self._int("downsample", 1)
        if self.train_images is not None:
            self._int("train_images", 1)
        if self.init not in INITIALISATIONS:
            self.fail("init", f"must be one of {list(INITIALISATIONS)}")
        self._int("init_subsample", 1)
        self._number("max_translation", 0, open_low=True)
        self._number("max_scale", 1, open_low=True)
        channels = self.channels
        if isinstance(channels, str) or not isinstance(channels, list | tuple) or not channels or not all(
            is_int(width) and width >= 1 for width in channels
        ):
            self.fail("channels", "must be a non-empty list of positive integers")
        self._int("hidden", 1)
        self._int("reassign_every", 0)
        self._number("min_cluster_share", 0, 1, open_high=True)
        super().check()

    def model_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`DTIClustering` (besides K and the image shape)."""
        return {
            "transformations": tuple(self.transformations),
            "rotation_hypotheses": self.rotation_hypotheses,
            "max_translation": float(self.max_translation),
            "max_log_scale": math.log(self.max_scale),
            "channels": tuple(self.channels),
            "hidden": self.hidden,
            "reassign_every": self.reassign_every,
            "min_cluster_share": float(self.min_cluster_share),
        }


_CLUSTERING_BLOCKS = {
    "mining": MiningParameters, "scan": ScanParameters, "selflabel": SelfLabelParameters, "dti": DTIParameters,
}


@dataclasses.dataclass(frozen=True)
class ClusteringParameters(_ClusteringBlock):
    """``clustering``: the images, K, seed, device and CPU threads shared by every method,
    and one block per step (``mining``, ``scan``, ``selflabel``, ``dti``).

    ``num_threads``: torch and BLAS/OpenMP threads of every node (None: the libraries'
    defaults); also the default of each block's ``optimisation.num_threads``. One thread
    is the default: on a 2-core CPU shared with other jobs it ran the whole pipeline in
    155 s against 275 s with the libraries' two threads, with identical results."""

    section = "clustering"
    split: str = "all"
    n_clusters: int = 10
    seed: int = 0
    device: str = "auto"
    batch_size: int = 512
    num_threads: int | None = 1
    normalise_codes: bool = True
    kmeans_n_init: int = 10
    exemplars: int = 8
    checkpoint_dir: str = "data/06_models/checkpoints"
    progress: bool = True
    mining: MiningParameters = dataclasses.field(default_factory=MiningParameters)
    scan: ScanParameters = dataclasses.field(default_factory=ScanParameters)
    selflabel: SelfLabelParameters = dataclasses.field(default_factory=SelfLabelParameters)
    dti: DTIParameters = dataclasses.field(default_factory=DTIParameters)

    def check(self) -> None:
        if self.split not in ("all", "train", "test"):
            self.fail("split", "must be 'all', 'train' or 'test'")
        self._int("n_clusters", 2)
        self._int("seed", 0)
        if not isinstance(self.device, str):
            self.fail("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
        self._int("batch_size", 1)
        if self.num_threads is not None:
            self._int("num_threads", 1)
        self._bool("normalise_codes")
        self._int("kmeans_n_init", 1)
        self._int("exemplars", 1)
        if not isinstance(self.checkpoint_dir, str) or not self.checkpoint_dir:
            self.fail("checkpoint_dir", "must be a directory path")
        self._bool("progress")
        for name, block in _CLUSTERING_BLOCKS.items():
            value = getattr(self, name)
            if isinstance(value, Mapping) or value is None:
                object.__setattr__(self, name, block.from_dict(value))
            elif not isinstance(value, block):
                self.fail(name, "must be a mapping")
        self.training_config("scan")  # the device is checked by TrainingConfig

    def training_config(self, block: str) -> TrainingConfig:
        """The optimisation of ``scan``, ``selflabel`` or ``dti`` with this section's seed and device."""
        return getattr(self, block).training_config(self.seed, self.device, self.num_threads)


# Sections every domain shares, checked wherever they appear (``training`` or
# ``wm811k.training``), and each domain's own front-end sections.
SHARED_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "training": TrainingParameters.from_dict,
    "embedding": EmbeddingParameters.from_dict,
    "clustering": ClusteringParameters.from_dict,
}


# The domains, each a package ``irl_inr.pipelines.<domain>`` whose ``parameters`` module
# has ``VALIDATORS``: its own front-end sections by name.
DOMAINS = ("mnist_u", "wm811k", "cryo_em")


def domain_validators() -> dict[str, dict[str, Callable[[Any], Any]]]:
    """Each domain's own sections, imported lazily (the pipelines import this module)."""
    return {domain: importlib.import_module(f"irl_inr.pipelines.{domain}.parameters").VALIDATORS for domain in DOMAINS}


def validate_parameters(parameters: Mapping[str, Any]) -> None:
    """Validate every known section in ``parameters``, whose keys are a section
    (``training``) or a domain's section (``wm811k.training``); errors name the
    parameter with its domain (``wm811k.training.config = ...``)."""
    own = domain_validators()
    from irl_inr.pipelines.interpretation.parameters import VALIDATORS as OPTIONS
    from irl_inr.pipelines.predict.parameters import PredictParameters
    from irl_inr.reporting.parameters import ReportingParameters

    shared = {
        **SHARED_VALIDATORS, **OPTIONS, "reporting": ReportingParameters.from_dict,
        "predict": PredictParameters.from_dict,
    }
    for key, values in parameters.items():
        domain, _, section = key.rpartition(".")
        validator = own.get(domain, {}).get(section) or shared.get(section)
        if validator is None:
            continue
        try:
            validator(values)
        except ValueError as error:
            message = str(error)
            if domain and not message.startswith(f"{domain}."):
                message = f"{domain}.{message}"
            raise ValueError(message) from error
