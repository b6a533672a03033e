"""The ``interpretation`` and ``isometry`` parameter sections
(``conf/base/parameters_interpretation.yml``)."""

from __future__ import annotations

import dataclasses

from irl_inr.parameters import Parameters, is_int, is_number


@dataclasses.dataclass(frozen=True)
class _Checked(Parameters):
    def _int(self, name: str, minimum: int) -> None:
        value = getattr(self, name)
        if not is_int(value):
            self.fail(name, "must be an integer")
        if value < minimum:
            self.fail(name, f"must be at least {minimum}")

    def _positive(self, name: str) -> None:
        if not is_number(getattr(self, name)) or getattr(self, name) <= 0:
            self.fail(name, "must be a positive number")


@dataclasses.dataclass(frozen=True)
class InterpretationParameters(_Checked):
    """``interpretation``: the flow over the codes, its training and its traversal figure.

    ``supervised``: the class factor (``class_dims`` coordinates of u, a Gaussian around a
    learned mean per label) plus a standard-normal residual; false: one standard-normal u.
    ``optimisation``: :class:`~irl_inr.training.TrainingConfig` fields laid over
    ``DEFAULT_OPTIMISATION``, with the section's ``seed``, ``device``, ``num_threads``."""

    section = "interpretation"
    DEFAULT_OPTIMISATION = {
        "epochs": 60, "batch_size": 256, "learning_rate": 1e-3, "betas": [0.9, 0.999], "checkpoint_every": 0,
    }
    supervised: bool = True
    class_dims: int = 4
    blocks: int = 8
    hidden: int = 128
    scale_bound: float = 2.0
    permutation_seed: int = 0
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = 1
    checkpoint_dir: str = "data/06_models/checkpoints"
    progress: bool = False
    optimisation: dict = dataclasses.field(default_factory=dict)
    traversal_index: int = 0
    traversal_steps: int = 9
    traversal_extent: float = 2.5
    traversal_rows: int = 6

    def check(self) -> None:
        for name in ("supervised", "progress"):
            if not isinstance(getattr(self, name), bool):
                self.fail(name, "must be true or false")
        for name, minimum in (
            ("class_dims", 1), ("blocks", 1), ("hidden", 1), ("permutation_seed", 0), ("seed", 0),
            ("traversal_index", 0), ("traversal_steps", 2), ("traversal_rows", 1),
        ):
            self._int(name, minimum)
        self._positive("scale_bound")
        self._positive("traversal_extent")
        if self.num_threads is not None:
            self._int("num_threads", 1)
        if not isinstance(self.checkpoint_dir, str) or not self.checkpoint_dir:
            self.fail("checkpoint_dir", "must be a directory path")
        self.training_config()

    def training_config(self):
        from irl_inr.training import TrainingConfig

        if not isinstance(self.optimisation, dict):
            self.fail("optimisation", "must be a mapping of training settings")
        threads = {} if self.num_threads is None else {"num_threads": self.num_threads}
        values = {**self.DEFAULT_OPTIMISATION, "seed": self.seed, "device": self.device, **threads, **self.optimisation}
        try:
            return TrainingConfig.from_dict(values)
        except ValueError as error:
            raise ValueError(f"{self.section}.optimisation: {error}") from error


@dataclasses.dataclass(frozen=True)
class IsometryParameters(_Checked):
    """``isometry``: the mean condition number of IRL-INR's decoder z -> canonical image,
    on ``sample_size`` codes drawn without replacement (seeded; all when fewer)."""

    section = "isometry"
    sample_size: int = 200
    batch_size: int = 16
    seed: int = 0
    device: str = "auto"

    def check(self) -> None:
        self._int("sample_size", 1)
        self._int("batch_size", 1)
        self._int("seed", 0)
        if not isinstance(self.device, str):
            self.fail("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")


VALIDATORS = {"interpretation": InterpretationParameters.from_dict, "isometry": IsometryParameters.from_dict}
