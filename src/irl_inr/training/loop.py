"""The project's one training loop (IRL-INR now; SCAN heads and DTI later).

A *model* is any ``torch.nn.Module`` with::

    def training_losses(self, batch: Tensor, generator: torch.Generator) -> dict[str, Tensor]

returning scalar loss terms, one of them ``"total"`` (the one minimised); the model
draws its own random augmentation from ``generator``. Two optional methods:

* ``optimiser_groups()`` -> a list of ``{"params": [...], "learning_rate_scale": s}``:
  Adam parameter groups, each at ``config.learning_rate * s`` times the schedule's factor
  of the step (``config.learning_rate_schedule``; a learning-rate split, e.g. a
  pre-trained encoder fine-tuned slower than a new head, keeps its ratio); default: one
  group of every parameter that requires a gradient;
* ``after_optimiser_step()``: called after every optimiser step (e.g. to move an
  exponential moving average of the weights); whatever it updates must live in the
  model's ``state_dict`` to be checkpointed and resumed.

Reproducibility (on CPU, bit for bit):

* epoch ``e`` visits the samples in ``randperm(N)`` drawn from a generator seeded
  with ``(seed, "shuffle", e)``;
* before optimiser step ``s`` (0-based count of steps done), the augmentation
  generator is seeded with ``(seed, "augment", s)`` and torch's global RNG with
  ``(seed, "global", s)`` (so dropout and other global-RNG users replay too);
* a checkpoint holds the weights, the Adam state, the weight average (when
  ``config.weight_average_decay`` asks for one) and the position (epoch, batch in
  epoch), so a resumed run repeats exactly the batches and random draws that the
  uninterrupted run would have made, and ends with identical weights.

The caller's global RNG state and thread count are restored when ``fit`` returns.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the same loop trains with
DistributedDataParallel: every step's global batch is the single-process one, each
rank trains on its share of it, rank 0 alone writes checkpoints (see
:mod:`.distributed`).

Failure handling: every step checks all loss terms and the gradient norm *before*
the optimiser step; a NaN/inf raises :class:`NonFiniteLossError` naming the term,
step and epoch, leaving the model at its last good step and the last checkpoint on
disk untouched. Checkpoints are written atomically (see :mod:`.checkpoint`); one
from a different run is refused with :class:`~.checkpoint.CheckpointMismatchError`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from irl_inr.parameters import is_int

from .averaging import WeightAverage
from .checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    CheckpointMismatchError,
    check_identity,
    cpu_state_dict,
    fingerprint,
    load_checkpoint,
    run_identity,
    save_checkpoint,
)
from .config import TrainingConfig
from .device import autocast_context, autocast_dtype, maybe_compile
from .distributed import (
    BatchShard,
    World,
    batch_shard,
    check_even_batches,
    gradient_averaging_losses,
    join_process_group,
    mean_over_ranks,
    rank_device,
    wait_for_all_ranks,
    world_from_environment,
)
from .data import TrainingData, training_data
from .inputs import accepts_shard
from .optimiser import optimiser_groups
from .progress import progress_bar
from .results import GRAD_NORM, RESERVED_COLUMNS, NonFiniteLossError, Position, TrainingResult, history_frame

logger = logging.getLogger(__name__)

def derive_seed(seed: int, stream: str, index: int) -> int:
    """An independent 63-bit seed for item ``index`` of random ``stream`` of run ``seed``."""
    digest = hashlib.sha256(f"{seed}:{stream}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def fit(
    model: nn.Module,
    data: torch.Tensor | TrainingData,
    config: TrainingConfig,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
    *,
    stop_after_steps: int | None = None,
) -> TrainingResult:
    """Train ``model`` on ``data`` with Adam, resuming from ``checkpoint_path`` if it exists.

    ``data``: a float tensor with samples along dim 0 (images are ``(N, C, H, W)``), or a
    data set read by row indices (see :mod:`.data`); it stays where it is, batches are
    gathered there and moved to the training device.
    ``model`` is moved to the training device and trained in place; it ends holding the
    returned weights (with ``config.weight_average_decay``, their average over the steps).
    ``checkpoint_path``: checkpoints go here every ``config.checkpoint_every`` steps,
    at the end of every epoch and when ``stop_after_steps`` stops the run; ``None``
    trains without checkpoints. An existing checkpoint from the same run (config,
    model class/shapes, data) is resumed, even mid-epoch; one from another run raises
    :class:`CheckpointMismatchError`; a finished one returns at once without training.
    ``stop_after_steps``: stop (as if pre-empted, after checkpointing) once this many
    optimiser steps have been taken in total, counting those before a resume.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every rank calls ``fit`` with the same
    arguments; the process group is joined here (once per process), the batches are shared
    out and the gradients averaged, rank 0 alone writes the checkpoint and shows
    progress, and every rank returns the same weights (see :mod:`.distributed`).
    """
    if not isinstance(config, TrainingConfig):
        raise TypeError(f"config must be a TrainingConfig, got {type(config).__name__}")
    if not isinstance(model, nn.Module) or not callable(getattr(model, "training_losses", None)):
        raise TypeError(f"{type(model).__name__} must be an nn.Module with a training_losses(batch, generator) method")
    data = training_data(data)
    if stop_after_steps is not None and (
        not is_int(stop_after_steps) or stop_after_steps < 1
    ):
        raise ValueError(f"stop_after_steps must be a positive integer or None, got {stop_after_steps!r}")

    world = world_from_environment()
    device = rank_device(config.device, world)
    threads_before = torch.get_num_threads()
    was_training = model.training
    try:
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        # Restore the caller's RNG state afterwards (CPU, plus the CUDA device used).
        cuda_devices = []
        if device.type == "cuda":
            cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()]
        join_process_group(world, device)
        with torch.random.fork_rng(devices=cuda_devices, device_type="cuda"):
            trainer = _Trainer(
                model, data, config, device, checkpoint_path, progress and world.is_main, stop_after_steps, world
            )
            return trainer.run()
    finally:
        if torch.get_num_threads() != threads_before:
            torch.set_num_threads(threads_before)
        model.train(was_training)


class _Trainer:
    def __init__(
        self,
        model: nn.Module,
        data: TrainingData,
        config: TrainingConfig,
        device: torch.device,
        checkpoint_path: str | Path | None,
        progress: bool,
        stop_after_steps: int | None,
        world: World,
    ) -> None:
        self.model, self.data, self.config, self.device = model, data, config, device
        self.world = world
        self.path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.progress = progress
        self.stop_after_steps = stop_after_steps
        count = len(data)
        self.batches = count // config.batch_size if config.drop_last else math.ceil(count / config.batch_size)
        if self.batches == 0:
            raise ValueError(
                f"training.batch_size = {config.batch_size} with drop_last=True leaves no batch for "
                f"{count} samples; lower batch_size or set drop_last to false"
            )
        check_even_batches(count, config.batch_size, config.drop_last, world)
        self.position = Position()
        self.resumed_from: int | None = None
        self.saved_step: int | None = None  # step of the checkpoint now on disk

    # -- set-up --------------------------------------------------------------------------

    def run(self) -> TrainingResult:
        config, model = self.config, self.model
        model.to(self.device)
        model.train()
        groups = optimiser_groups(model, config.learning_rate)
        self.parameters = [p for group in groups for p in group["params"]]
        self.base_rates = [group["lr"] for group in groups]  # before any schedule or resume
        self.after_step = getattr(model, "after_optimiser_step", None)
        self.optimizer = torch.optim.Adam(
            groups,
            lr=config.learning_rate,
            betas=config.betas,
            weight_decay=config.weight_decay,
            fused=config.fused_adam or None,  # None: torch's default (foreach)
        )
        self.average = (
            WeightAverage(model, config.weight_average_decay) if config.weight_average_decay is not None else None
        )
        self.identity = run_identity(config.fingerprint_fields(), model, self.data.identity_tensor)
        self.fingerprint = fingerprint(self.identity)
        if self.path is not None and self.path.exists():
            self._resume()
        self.amp_dtype = autocast_dtype(config.mixed_precision, self.device)
        self.shard_aware = accepts_shard(model)
        if self.world.is_distributed and not self.shard_aware:
            logger.warning(
                "%s.training_losses takes no 'shard': each of the %d processes draws the augmentation of its "
                "own share of the batch, so this run differs from a single-process one in its random draws",
                type(model).__name__,
                self.world.size,
            )
        # Under DDP this wrapper also broadcasts rank 0's weights (after any resume) to every rank.
        losses = gradient_averaging_losses(model, self.device, self.world)
        self.loss_fn = maybe_compile(losses, self.device, config.compile)
        self.generator = torch.Generator(device=self.device)
        logger.info(
            "training %s on %s%s (%s, %s): %d epochs x %d steps of %d samples, %s",
            type(model).__name__,
            self.device,
            f" (rank {self.world.rank} of {self.world.size})" if self.world.is_distributed else "",
            "bf16 autocast" if self.amp_dtype is not None else "float32",
            "compiled" if config.compile and self.device.type == "cuda" else "eager",
            config.epochs,
            self.batches,
            config.batch_size,
            f"checkpoints at {self.path}" if self.path is not None else "no checkpoints",
        )
        self._train()
        # No rank may return (and perhaps read the checkpoint again) before rank 0's last write.
        wait_for_all_ranks(self.world)
        return self._result()

    def _resume(self) -> None:
        checkpoint = load_checkpoint(self.path)
        check_identity(checkpoint, self.identity, self.path)
        try:
            self.model.load_state_dict(checkpoint["model_state"])
            self.optimizer.load_state_dict(checkpoint["optimizer_state"])
            if self.average is not None:
                self.average.load_state_dict(checkpoint["average_state"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointMismatchError(f"checkpoint {self.path} does not fit this model: {error}") from error
        position = Position.from_checkpoint(checkpoint)
        problem = position.inconsistency(self.batches, self.config.epochs)
        if problem:
            raise CheckpointError(f"checkpoint {self.path} is inconsistent: {problem}")
        self.position = position
        self.resumed_from = self.saved_step = position.step
        if position.epoch == self.config.epochs:
            logger.info("checkpoint %s holds a finished run (%d steps); nothing to train", self.path, position.step)
        else:
            logger.info(
                "resuming from %s at step %d (epoch %d, batch %d of %d)",
                self.path,
                position.step,
                position.epoch + 1,
                position.batch_in_epoch,
                self.batches,
            )

    # -- the loop ------------------------------------------------------------------------

    def _train(self) -> None:
        config, position = self.config, self.position
        bar = progress_bar(config.epochs * self.batches, position.step, self.progress)
        try:
            while position.epoch < config.epochs and not self._should_stop():
                self._train_epoch(bar)
        finally:
            bar.close()

    def _should_stop(self) -> bool:
        return self.stop_after_steps is not None and self.position.step >= self.stop_after_steps

    def _train_epoch(self, bar: Any) -> None:
        config, position, data = self.config, self.position, self.data
        epoch = position.epoch
        shuffle = torch.Generator().manual_seed(derive_seed(config.seed, "shuffle", epoch))
        order = torch.randperm(len(data), generator=shuffle).to(data.device)
        bar.set_description(f"epoch {epoch + 1}/{config.epochs}")
        started, seconds_before = time.perf_counter(), position.epoch_seconds
        for batch_index in range(position.batch_in_epoch, self.batches):
            indices = order[batch_index * config.batch_size : (batch_index + 1) * config.batch_size]
            shard = batch_shard(len(indices), self.world)
            batch = data[indices[shard.rows]].to(self.device, non_blocking=True)
            values = self._step(batch, shard, epoch, batch_index)
            position.step += 1
            position.batch_in_epoch += 1
            for name, value in values.items():
                position.epoch_sums[name] = position.epoch_sums.get(name, 0.0) + value
                position.epoch_counts[name] = position.epoch_counts.get(name, 0) + 1
            position.epoch_seconds = seconds_before + time.perf_counter() - started
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in position.running_means().items()}, refresh=False)
            if position.batch_in_epoch == self.batches:
                self._finish_epoch()
                self._save()
            elif config.checkpoint_every and position.step % config.checkpoint_every == 0:
                self._save()
            if self._should_stop():
                if self.saved_step != position.step:
                    self._save()
                logger.info("stopping after step %d as asked (stop_after_steps)", position.step)
                return

    def _step(self, batch: Any, shard: BatchShard, epoch: int, batch_index: int) -> dict[str, float]:
        """One optimiser step on this rank's ``shard`` of the global batch; returns the
        loss terms (means over the ranks) and the gradient norm as floats."""
        seed, step = self.config.seed, self.position.step
        # A shard-aware model draws for the global batch, so every rank replays the
        # single-process streams; otherwise rank r > 0 gets streams of its own.
        streams = "" if self.shard_aware or self.world.is_main else f"@rank{self.world.rank}"
        torch.manual_seed(derive_seed(seed, "global" + streams, step))
        self.generator.manual_seed(derive_seed(seed, "augment" + streams, step))
        self.optimizer.zero_grad(set_to_none=True)
        factor = self.config.learning_rate_factor(step, self.config.epochs * self.batches)
        for group, rate in zip(self.optimizer.param_groups, self.base_rates, strict=True):
            group["lr"] = rate * factor
        with autocast_context(self.amp_dtype, self.device):
            if self.shard_aware:
                losses = self.loss_fn(batch, self.generator, shard=shard)
            else:
                losses = self.loss_fn(batch, self.generator)
        terms = self._validated_terms(losses)
        losses["total"].backward()  # under DDP, leaves the gradients averaged over the ranks
        grads = [p.grad for p in self.parameters if p.grad is not None]
        grad_norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=self.device)
        # One host sync per step: every loss term and the gradient norm at once.
        term_means = mean_over_ranks(torch.stack([t.detach().reshape(()).float() for t in terms.values()]), self.world)
        stacked = torch.cat([term_means, grad_norm.float().reshape(1)])
        values = dict(zip([*terms, GRAD_NORM], stacked.tolist(), strict=True))
        bad = {name: value for name, value in values.items() if not math.isfinite(value)}
        if bad:
            self._non_finite(bad, epoch, batch_index)
        if self.config.grad_clip_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(self.parameters, self.config.grad_clip_norm, grad_norm)
        self.optimizer.step()
        if self.after_step is not None:
            self.after_step()
        if self.average is not None:
            self.average.update(self.model, step + 1)
        return values

    def _validated_terms(self, losses: Any) -> dict[str, torch.Tensor]:
        name = type(self.model).__name__
        if not isinstance(losses, Mapping):
            raise TypeError(f"{name}.training_losses must return a dict of loss tensors, got {type(losses).__name__}")
        if "total" not in losses:
            raise ValueError(f"{name}.training_losses must return a 'total' loss; got {sorted(losses)}")
        for term, value in losses.items():
            if not isinstance(term, str) or term in RESERVED_COLUMNS:
                raise ValueError(f"{name}.training_losses: loss name {term!r} is not allowed (reserved or not a str)")
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"{name}.training_losses: loss {term!r} must be a scalar tensor, got {shape}")
        return dict(losses)

    def _non_finite(self, bad: dict[str, float], epoch: int, batch_index: int) -> None:
        """Log and raise :class:`NonFiniteLossError` for the step about to be taken."""
        error = NonFiniteLossError.of_step(
            bad, self.position.step + 1, (epoch + 1, self.config.epochs), (batch_index + 1, self.batches),
            self.saved_step, self.path,
        )
        logger.error(str(error))
        raise error

    def _finish_epoch(self) -> None:
        position = self.position
        means = position.running_means()
        row: dict[str, float] = {"epoch": position.epoch + 1, "step": position.step}
        row.update({name: value for name, value in means.items() if name != GRAD_NORM})
        row[GRAD_NORM] = means[GRAD_NORM]
        row["seconds"] = position.epoch_seconds
        row["learning_rate"] = float(self.optimizer.param_groups[0]["lr"])
        position.history.append(row)
        logger.info(
            "epoch %d/%d (step %d, %.1fs): %s",
            position.epoch + 1,
            self.config.epochs,
            position.step,
            position.epoch_seconds,
            ", ".join(f"{name}={value:.5g}" for name, value in means.items()),
        )
        position.epoch += 1
        position.batch_in_epoch = 0
        position.start_epoch()

    def _save(self) -> None:
        """Rank 0 writes the checkpoint; every rank records that it is on disk."""
        if self.path is None:
            return
        position = self.position
        if not self.world.is_main:
            self.saved_step = position.step
            return
        payload = {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "identity": self.identity,
            "model_state": cpu_state_dict(self.model),
            "optimizer_state": self.optimizer.state_dict(),
            "step": position.step,
            "epoch": position.epoch,
            "batch_in_epoch": position.batch_in_epoch,
            "epoch_sums": dict(position.epoch_sums),
            "epoch_counts": dict(position.epoch_counts),
            "epoch_seconds": position.epoch_seconds,
            "history": [dict(row) for row in position.history],
            "torch_version": str(torch.__version__),
        }
        if self.average is not None:
            payload["average_state"] = self.average.state_dict()
        save_checkpoint(payload, self.path)
        self.saved_step = position.step
        logger.debug("checkpoint written to %s at step %d", self.path, position.step)

    # -- result --------------------------------------------------------------------------

    def _result(self) -> TrainingResult:
        position = self.position
        if self.average is not None:
            # The model ends holding what the run returns; its checkpoint keeps the last weights.
            self.model.load_state_dict(self.average.averaged_model_state(self.model))
        return TrainingResult(
            state_dict=cpu_state_dict(self.model),
            history=history_frame(position.history),
            step=position.step,
            epochs_completed=position.epoch,
            completed=position.epoch == self.config.epochs,
            resumed_from_step=self.resumed_from,
            device=str(self.device),
        )
