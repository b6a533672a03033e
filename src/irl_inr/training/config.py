"""``TrainingConfig``: the validated settings of one training run.

Errors name the field the way the project's parameter sections do
(``training.epochs = 0: must be a positive integer``), so a bad value in
``conf/base/parameters_*.yml`` is easy to find."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from irl_inr.parameters import is_int

_CUDA_DEVICE = re.compile(r"cuda(:\d+)?")
SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Settings for :func:`irl_inr.training.fit`.

    Fields that decide *what* is optimised (epochs, batch size, optimiser
    hyper-parameters, seed, ...) enter the checkpoint fingerprint; fields that only
    decide *where and how fast* it runs (``EXECUTION_FIELDS``) do not, so a run may
    be resumed on another device, with another thread count or checkpoint interval.
    """

    section: ClassVar[str] = "training"
    # Not part of the checkpoint fingerprint: changing them does not change the
    # optimisation problem, only the hardware path (and so, at most, rounding).
    EXECUTION_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"device", "mixed_precision", "compile", "checkpoint_every", "num_threads", "fused_adam"}
    )

    epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 1e-4
    # "constant" | "cosine": the rate of step s (0-based) of S is learning_rate * (1 + cos(pi s / S)) / 2
    # under "cosine" (every parameter group scaled alike), falling towards 0 (reached after the last step)
    learning_rate_schedule: str = "constant"
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"; auto = CUDA when available
    # "auto" | "bf16" | "none"; auto = bf16 autocast on CUDA only; bf16 = also on CPUs with
    # native bf16 (AVX-512 BF16 / AMX), float32 elsewhere
    mixed_precision: str = "auto"
    compile: bool = False  # torch.compile the model's training_losses (CUDA only)
    checkpoint_every: int = 500  # optimiser steps between checkpoints; 0 = only at epoch ends
    num_threads: int | None = None  # torch CPU threads during fit; None leaves torch's setting
    drop_last: bool = True  # drop the last, smaller batch of each epoch
    grad_clip_norm: float | None = None  # clip the global gradient norm; None = no clipping
    # Adam's fused kernel: one pass over each parameter instead of several, no temporary
    # copy of the optimiser state (same update up to float rounding, ~1 ulp)
    fused_adam: bool = False
    # Polyak averaging: the run returns the exponentially weighted mean of the weights (and of
    # the batch norms' statistics) over its steps, with this decay per optimiser step (a
    # horizon of about 1 / (1 - decay) steps), instead of the last weights (see
    # :mod:`.averaging`); None: the last weights
    weight_average_decay: float | None = None

    def __post_init__(self) -> None:
        self._check_int("epochs", minimum=1)
        self._check_int("batch_size", minimum=1)
        self._check_float("learning_rate", positive=True)
        if self.learning_rate_schedule not in SCHEDULES:
            self._fail("learning_rate_schedule", f"must be one of {list(SCHEDULES)}")
        self._check_betas()
        self._check_float("weight_decay", positive=False)
        self._check_int("seed", minimum=0)
        if not 0 <= self.seed < 2**63:
            self._fail("seed", "must be below 2**63")
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu") or _CUDA_DEVICE.fullmatch(self.device)
        ):
            self._fail("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
        if self.mixed_precision not in ("auto", "bf16", "none"):
            self._fail("mixed_precision", "must be 'auto', 'bf16' or 'none'")
        self._check_bool("compile")
        self._check_bool("drop_last")
        self._check_bool("fused_adam")
        self._check_int("checkpoint_every", minimum=0)
        if self.num_threads is not None:
            self._check_int("num_threads", minimum=1)
        if self.grad_clip_norm is not None:
            self._check_float("grad_clip_norm", positive=True)
        if self.weight_average_decay is not None:
            self._check_float("weight_average_decay", positive=True)
            if self.weight_average_decay >= 1.0:
                self._fail("weight_average_decay", "must be below 1 (null: no averaging)")

    # -- construction and export -------------------------------------------------------

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Self:
        """Build from a parameters mapping; unknown keys are a ``ValueError``."""
        values = dict(values or {})
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"{cls.section}: unknown parameter(s) {unknown}; known: {known}")
        return cls(**values)

    @classmethod
    def of_section(
        cls, section: str, defaults: Mapping[str, Any], optimisation: Any, seed: int, device: str,
        num_threads: int | None,
    ) -> Self:
        """The training of a parameter section (or block) whose model :func:`fit` trains: its
        ``optimisation`` mapping laid over the section's ``defaults`` and its ``seed``,
        ``device`` and ``num_threads`` (None: left to ``defaults``); errors name
        ``<section>.optimisation``."""
        if not isinstance(optimisation, Mapping):
            raise ValueError(f"{section}.optimisation = {optimisation!r}: must be a mapping of training settings")
        threads = {} if num_threads is None else {"num_threads": num_threads}
        values = {**defaults, "seed": seed, "device": device, **threads, **optimisation}
        try:
            return cls.from_dict(values)
        except ValueError as error:
            raise ValueError(f"{section}.optimisation: {error}") from error

    def to_dict(self) -> dict[str, Any]:
        """Plain values (``betas`` as a list), suitable for YAML/JSON and checkpoints."""
        values = dataclasses.asdict(self)
        values["betas"] = list(self.betas)
        return values

    def fingerprint_fields(self) -> dict[str, Any]:
        """The fields that define the optimisation problem (see ``EXECUTION_FIELDS``).  A
        constant learning rate and no weight average are left out, so checkpoints written
        before either was an option keep their fingerprint and stay resumable."""
        fields = {k: v for k, v in self.to_dict().items() if k not in self.EXECUTION_FIELDS}
        if fields["learning_rate_schedule"] == "constant":
            del fields["learning_rate_schedule"]
        if fields["weight_average_decay"] is None:
            del fields["weight_average_decay"]
        return fields

    def learning_rate_factor(self, step: int, total_steps: int) -> float:
        """The schedule's factor on every group's rate for optimiser step ``step`` (0-based)
        of ``total_steps``: 1 when constant, (1 + cos(pi step / total_steps)) / 2 under cosine."""
        if not (is_int(total_steps) and total_steps >= 1 and is_int(step) and 0 <= step <= total_steps):
            raise ValueError(f"learning_rate_factor: need 0 <= step <= total_steps, total_steps >= 1; got {step}, {total_steps}")
        if self.learning_rate_schedule == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * step / total_steps))

    # -- validation helpers ------------------------------------------------------------

    def _fail(self, name: str, problem: str) -> None:
        raise ValueError(f"{self.section}.{name} = {getattr(self, name)!r}: {problem}")

    def _check_int(self, name: str, *, minimum: int) -> None:
        value = getattr(self, name)
        if not is_int(value):
            self._fail(name, "must be an integer")
        if value < minimum:
            self._fail(name, "must be positive" if minimum == 1 else f"must be at least {minimum}")

    def _check_float(self, name: str, *, positive: bool) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._fail(name, "must be a number")
        if not math.isfinite(value):
            self._fail(name, "must be finite")
        if positive and value <= 0:
            self._fail(name, "must be positive")
        if not positive and value < 0:
            self._fail(name, "must be non-negative")
        object.__setattr__(self, name, float(value))

    def _check_bool(self, name: str) -> None:
        if not isinstance(getattr(self, name), bool):
            self._fail(name, "must be true or false")

    def _check_betas(self) -> None:
        betas = self.betas
        if isinstance(betas, str) or not isinstance(betas, tuple | list) or len(betas) != 2:
            self._fail("betas", "must be a pair of numbers (beta1, beta2)")
        for beta in betas:
            if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0.0 <= beta < 1.0:
                self._fail("betas", "each beta must be a number in [0, 1)")
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))
