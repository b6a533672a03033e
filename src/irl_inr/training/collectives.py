"""The collectives of a training step whose batch the ranks of a ``torchrun`` process
group share in equal parts (see :mod:`.distributed`): this rank's share of the global
batch and the global batch's tensor gathered from every share (:class:`BatchShare`), and
batch-norm statistics over the ranks (:func:`batch_statistics_over_ranks`), so that a
model trains on the global batch as one process holding all of it would. Models read
them in ``training_losses``; with one process they do nothing."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .distributed import BatchShard

_STATISTICS_OVER_RANKS = contextvars.ContextVar("batch_statistics_over_ranks", default=False)


@contextlib.contextmanager
def batch_statistics_over_ranks() -> Iterator[None]:
    """Within this block the encoder's batch norms, in training mode, normalise with the
    statistics of the global batch that the ranks of the default process group share in
    equal parts (every rank must run the same forward passes), as one process holding
    the whole batch would; their running statistics follow the global ones too.

    Gradients flow through the cross-rank sums (:class:`SumOverRanks`), so DDP's
    averaged gradient is that of the global batch.  ``torch.nn.SyncBatchNorm`` does the
    same on GPUs only (it refuses CPU tensors), hence this implementation, which runs
    on CPU (gloo) and CUDA (nccl) alike."""
    token = _STATISTICS_OVER_RANKS.set(True)
    try:
        yield
    finally:
        _STATISTICS_OVER_RANKS.reset(token)


def statistics_over_ranks() -> bool:
    """Whether batch norms now normalise with the statistics of the ranks' global batch."""
    return _STATISTICS_OVER_RANKS.get()


class SumOverRanks(torch.autograd.Function):
    """The sum of a tensor over the ranks of the default process group.  Every rank's
    loss depends on the sum, so the gradient of a rank's tensor is the sum of the ranks'
    gradients of the sum: the backward is the same all-reduce."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, gradient: torch.Tensor) -> torch.Tensor:
        total = gradient.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total


def normalise_over_ranks(
    norm: nn.modules.batchnorm._BatchNorm, features: torch.Tensor, update_running: bool = True
) -> torch.Tensor:
    """Training-mode batch norm of this rank's ``features`` (N, C, ...) with the mean and
    (biased) variance of all ranks' features, in at least float32; updates the running
    statistics like ``nn.BatchNorm`` (unbiased variance, momentum or cumulative average)
    when ``update_running``."""
    with torch.autocast(device_type=features.device.type, enabled=False):
        values = features.to(torch.promote_types(features.dtype, torch.float32))
        reduced = [0, *range(2, values.dim())]  # every dimension but the channel
        shape = [1, -1] + [1] * (values.dim() - 2)
        count = values.numel() // values.shape[1] * dist.get_world_size()  # equal shares
        mean = SumOverRanks.apply(values.sum(reduced)) / count
        centred = values - mean.reshape(shape)
        variance = SumOverRanks.apply(centred.pow(2).sum(reduced)) / count
        normalised = centred * torch.rsqrt(variance + norm.eps).reshape(shape)
        if norm.affine:
            normalised = normalised * norm.weight.reshape(shape) + norm.bias.reshape(shape)
        if norm.track_running_stats and update_running:
            with torch.no_grad():
                norm.num_batches_tracked.add_(1)
                factor = 1 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum
                norm.running_mean.lerp_(mean.to(norm.running_mean.dtype), factor)
                unbiased = variance * (count / (count - 1))
                norm.running_var.lerp_(unbiased.to(norm.running_var.dtype), factor)
    return normalised.to(features.dtype)


@dataclass(frozen=True)
class BatchShare:
    """The rows ``[start, stop)`` of a global batch of ``size`` images that this process
    trains on, ``ranks`` processes sharing the batch in equal parts (1: all of it here)."""

    start: int
    stop: int
    size: int
    ranks: int

    @classmethod
    def of(cls, images: torch.Tensor, shard: BatchShard | None) -> "BatchShare":
        """This process's share, checked against the images and the process group."""
        count = images.shape[0]
        if shard is None:
            return cls(0, count, count, 1)
        if shard.stop - shard.start != count:
            raise ValueError(f"shard {shard} holds {shard.stop - shard.start} rows but the batch has {count} images")
        if count == shard.size:
            return cls(shard.start, shard.stop, shard.size, 1)
        ranks = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        rank = dist.get_rank() if ranks > 1 else 0
        if shard.size != ranks * count or shard.start != rank * count:
            raise ValueError(
                f"shard {shard} is not rank {rank}'s equal share of a batch split over the {ranks} process(es) "
                "of the default process group; a part of a batch needs torchrun's process group (see "
                "irl_inr.training.distributed.batch_shard)"
            )
        return cls(shard.start, shard.stop, shard.size, ranks)

    @property
    def rows(self) -> slice:
        return slice(self.start, self.stop)

    @property
    def is_split(self) -> bool:
        """Whether other processes hold the rest of the batch."""
        return self.ranks > 1

    def of_views(self, draw: torch.Tensor) -> torch.Tensor:
        """This share's rows of a draw for V x ``size`` views [first views; second views; ...]."""
        if not self.is_split:
            return draw
        views = draw.shape[0] // self.size
        return torch.cat([draw[view * self.size + self.start : view * self.size + self.stop] for view in range(views)])

    def gather(self, rows: torch.Tensor) -> torch.Tensor:
        """The global batch's tensor from every rank's rows (differentiable); ``rows``
        itself when this process holds the whole batch."""
        if not self.is_split:
            return rows
        return GatherRows.apply(rows)


class GatherRows(torch.autograd.Function):
    """Every rank's equal share of rows (b, ...) -> the global batch's (W b, ...), in
    rank order, on every rank of the default process group.  Every rank's loss may use
    every row, so the gradient of a rank's rows is the sum over the ranks of the
    gradients of those rows (an all-reduce, then this rank's part)."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor) -> torch.Tensor:
        rows = rows.contiguous()
        parts = [torch.empty_like(rows) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, rows)
        start = dist.get_rank() * rows.shape[0]
        ctx.own_rows = slice(start, start + rows.shape[0])
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, gradient: torch.Tensor) -> torch.Tensor:
        total = gradient.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total[ctx.own_rows]
