"""The ``clustering`` parameter section and its blocks (``conf/base/parameters_clustering.yml``)."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pandas as pd

from irl_inr.models.dti import DEFAULT_HIDDEN, INITIALISATIONS, TRANSFORMATIONS
from irl_inr.models.head_selection import KEEP_RULES
from irl_inr.parameters import ImageRequirement, Parameters, is_int
from irl_inr.tables import is_unlabelled, rows_of_split
from irl_inr.training import TrainingConfig

logger = logging.getLogger(__name__)

# What SCAN's heads see of an image: ``pose``, a random pose; ``encoder``, a random pose and
# then the IRL-INR encoder's own appearance augmentation (irl_inr.models.augmentation).
SCAN_VIEWS = ("pose", "encoder")


@dataclasses.dataclass(frozen=True)
class TrainedBlock(Parameters):
    """A block trained with the project's loop. ``optimisation`` holds
    :class:`~irl_inr.training.TrainingConfig` fields laid over the block's defaults;
    ``seed`` and ``device`` default to the section's."""

    DEFAULT_OPTIMISATION: ClassVar[dict[str, Any]] = {}
    optimisation: dict = dataclasses.field(default_factory=dict)

    def training_config(self, seed: int = 0, device: str = "auto", num_threads: int | None = None) -> TrainingConfig:
        return TrainingConfig.of_section(
            self.section, self.DEFAULT_OPTIMISATION, self.optimisation, seed, device, num_threads
        )

    def check(self) -> None:
        self.training_config()

    def model_settings(self) -> dict[str, Any]:
        """The block's settings besides its optimisation (whose fingerprint fields are hashed
        on their own, so that a run can resume on another device)."""
        return {name: value for name, value in self.to_dict().items() if name != "optimisation"}


@dataclasses.dataclass(frozen=True)
class MiningParameters(Parameters):
    """``clustering.mining``: SCAN's nearest neighbours, by cosine, on the IRL-INR codes."""

    section = "clustering.mining"
    neighbours: int = 20

    def check(self) -> None:
        self.check_int("neighbours", 1)


@dataclasses.dataclass(frozen=True)
class ScanParameters(TrainedBlock):
    """``clustering.scan``: the SCAN heads over the IRL-INR encoder."""

    section = "clustering.scan"
    DEFAULT_OPTIMISATION: ClassVar[dict[str, Any]] = {
        "epochs": 40, "batch_size": 256, "learning_rate": 1e-3, "betas": [0.9, 0.999], "weight_decay": 1e-4,
        "checkpoint_every": 200,
    }
    n_heads: int = 10
    keep_head: str = "agreement"  # agreement | loss: which head is SCAN's answer (irl_inr.models.head_selection)
    entropy_weight: float = 5.0
    train_features: bool = False
    features_learning_rate_scale: float = 1.0  # trained features: their learning rate over the heads'
    cached_views: int = 8
    head_hidden: int = 128
    rotate: bool = True
    max_shift_pixels: float = 5.0
    views: str = "pose"  # pose | encoder: the encoder's own appearance augmentation on top of the pose
    optimisation: dict = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        self.check_int("n_heads", 1)
        if self.keep_head not in KEEP_RULES:
            self.fail("keep_head", f"must be one of {list(KEEP_RULES)}")
        self.check_number("entropy_weight", 0)
        self.check_bool("train_features")
        self.check_number("features_learning_rate_scale", 0, open_low=True)
        self.check_int("cached_views", 0)
        self.check_int("head_hidden", 0)
        if self.cached_views and self.train_features:
            self.fail("cached_views", "needs train_features: false (cached codes come from a frozen encoder); set it to 0")
        self.check_bool("rotate")
        self.check_number("max_shift_pixels", 0)
        if self.views not in SCAN_VIEWS:
            self.fail("views", f"must be one of {list(SCAN_VIEWS)}")
        super().check()

    def model_settings(self) -> dict[str, Any]:
        """As :meth:`TrainedBlock.model_settings`, without ``views`` at its default ``pose``
        (so that runs from before the option keep their checkpoints)."""
        settings = super().model_settings()
        if settings["views"] == "pose":
            del settings["views"]
        return settings


@dataclasses.dataclass(frozen=True)
class SelfLabelParameters(TrainedBlock):
    """``clustering.selflabel``: SCAN's self-labelling, from the best SCAN head."""

    section = "clustering.selflabel"
    DEFAULT_OPTIMISATION: ClassVar[dict[str, Any]] = {
        "epochs": 5, "batch_size": 256, "learning_rate": 1e-3, "betas": [0.9, 0.999], "weight_decay": 1e-4,
        "checkpoint_every": 20,
    }
    threshold: float = 0.9
    class_balance: bool = True
    train_features: bool = True  # fine-tuned with the head (see parameters_clustering.yml)
    features_learning_rate_scale: float = 0.1  # the encoder's learning rate over the head's (a split)
    ema_decay: float = 0.0  # 0: no EMA teacher
    rotate: bool = True
    max_shift_pixels: float = 5.0
    contrast: float = 0.0  # strong view's photometric distortion: off (see parameters_clustering.yml)
    noise_std: float = 0.0
    cutout_size: float = 0.0
    optimisation: dict = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        self.check_number("threshold", 0, 1)
        self.check_bool("class_balance")
        self.check_bool("train_features")
        self.check_number("features_learning_rate_scale", 0, open_low=True)
        self.check_number("ema_decay", 0, 1, open_high=True)
        self.check_bool("rotate")
        self.check_number("max_shift_pixels", 0)
        self.check_number("contrast", 0, 1, open_high=True)
        self.check_number("noise_std", 0)
        self.check_number("cutout_size", 0, 1)
        super().check()


@dataclasses.dataclass(frozen=True)
class DTIParameters(TrainedBlock):
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
    hidden: int = DEFAULT_HIDDEN
    reassign_every: int = 10
    min_cluster_share: float = 0.01
    optimisation: dict = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        names = self.transformations
        if isinstance(names, str) or not isinstance(names, list | tuple) or not names:
            self.fail("transformations", f"must be a non-empty list of {list(TRANSFORMATIONS)}")
        if any(name not in TRANSFORMATIONS for name in names) or ("identity" in names and len(set(names)) > 1):
            self.fail("transformations", f"must name {list(TRANSFORMATIONS)} ('identity' alone)")
        self.check_int("rotation_hypotheses", 1)
        self.check_int("downsample", 1)
        if self.train_images is not None:
            self.check_int("train_images", 1)
        if self.init not in INITIALISATIONS:
            self.fail("init", f"must be one of {list(INITIALISATIONS)}")
        self.check_int("init_subsample", 1)
        self.check_number("max_translation", 0, open_low=True)
        self.check_number("max_scale", 1, open_low=True)
        channels = self.channels
        if isinstance(channels, str) or not isinstance(channels, list | tuple) or not channels or not all(
            is_int(width) and width >= 1 for width in channels
        ):
            self.fail("channels", "must be a non-empty list of positive integers")
        self.check_int("hidden", 1)
        self.check_int("reassign_every", 0)
        self.check_number("min_cluster_share", 0, 1, open_high=True)
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
class ClusteringParameters(Parameters):
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
        self.check_int("n_clusters", 2)
        self.check_int("seed", 0)
        if not isinstance(self.device, str):
            self.fail("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
        self.check_int("batch_size", 1)
        if self.num_threads is not None:
            self.check_int("num_threads", 1)
        self.check_bool("normalise_codes")
        self.check_int("kmeans_n_init", 1)
        self.check_int("exemplars", 1)
        if not isinstance(self.checkpoint_dir, str) or not self.checkpoint_dir:
            self.fail("checkpoint_dir", "must be a directory path")
        self.check_bool("progress")
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

    def check_label_classes(self, table: pd.DataFrame, name: str = "image_table") -> None:
        """The label classes of the images of ``split`` (``table``) must be ``n_clusters``
        (clusters are scored against classes one to one), or one: clustered unscored."""
        classes = sorted(pd.unique(table["label"]).tolist())
        if is_unlabelled(table["label"].to_numpy()):
            logger.warning(
                "The %d images of clustering.split = %r (%s) hold one label class %s: they are clustered into "
                "clustering.n_clusters = %d unscored (acc, nmi, ari, acc_69 and neighbour_acc need labels and are "
                "skipped)", len(table), self.split, name, classes, self.n_clusters,
            )
            return
        if len(classes) != self.n_clusters:
            self.fail(
                "n_clusters", f"the labels of the {len(table)} images of clustering.split = {self.split!r} ({name}) "
                f"hold {len(classes)} classes {classes}: set n_clusters to {len(classes)} (clusters are scored "
                "against classes one to one)"
            )

    def check_images(self, table: pd.DataFrame) -> list[ImageRequirement]:
        rows = table.iloc[rows_of_split(table, self.split)]
        if len(rows):
            self.check_label_classes(rows)
        requirements = [
            ImageRequirement("clustering.n_clusters", self.n_clusters, self.split, self.n_clusters,
                             "at least one image per cluster"),
            ImageRequirement("clustering.mining.neighbours", self.mining.neighbours, self.split,
                             self.mining.neighbours + 1, "SCAN mines this many neighbours of every image"),
        ]
        for block in ("scan", "selflabel", "dti"):
            optimisation = self.training_config(block)
            if optimisation.drop_last:
                requirements.append(ImageRequirement(
                    f"clustering.{block}.optimisation.batch_size", optimisation.batch_size, self.split,
                    optimisation.batch_size, "an epoch trains on full batches only",
                ))
        return requirements


VALIDATORS: dict[str, Callable[[Any], Any]] = {"clustering": ClusteringParameters.from_dict}
