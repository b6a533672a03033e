"""Multi-process training with DistributedDataParallel, launched by ``torchrun``.

``fit`` reads the torchrun environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``). With ``WORLD_SIZE`` above 1 it joins the process
group (``nccl`` on CUDA, ``gloo`` on CPU; each rank trains on ``cuda:LOCAL_RANK``),
and every optimiser step trains on the same *global* batch as a single process with
the same ``batch_size``: rank ``r`` of ``W`` takes rows ``[r*B/W, (r+1)*B/W)`` of it
(:class:`BatchShard`), and DDP averages the gradients, so the update is the
single-process one up to the order of float additions for any model whose loss is a
mean of per-sample losses.

Random draws: a model whose ``training_losses`` accepts a ``shard`` keyword is given
the :class:`BatchShard` it trains on and promises to draw every random number for
the whole global batch (``shard.size`` rows, from the generator or torch's global
RNG, both seeded per step exactly as in a single process) and keep rows
``shard.rows``; its run is then the single-process run. A model without ``shard``
draws for its own rows only; every rank then seeds its own streams (rank 0 those of
a single process), so the run is a valid DDP run but not the single-process one.

Rank 0 alone writes checkpoints; every rank resumes from the same file, and the
loss terms are averaged over the ranks before the NaN/inf check, so all ranks stop
together."""

from __future__ import annotations

import atexit
import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .device import resolve_device

ENVIRONMENT_VARIABLES = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclasses.dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints and shows progress."""
        return self.rank == 0


@dataclasses.dataclass(frozen=True)
class BatchShard:
    """Rows ``[start, stop)`` of a global batch of ``size`` samples: what one rank trains on."""

    start: int
    stop: int
    size: int

    @property
    def rows(self) -> slice:
        return slice(self.start, self.stop)


def world_from_environment(environment: Mapping[str, str] | None = None) -> World:
    """The :class:`World` described by torchrun's variables; one process when
    ``WORLD_SIZE`` is unset or 1. A missing or malformed variable is a ``ValueError``
    naming it."""
    environment = os.environ if environment is None else environment
    size = _integer(environment, "WORLD_SIZE", "1")
    if size < 1:
        raise ValueError(f"WORLD_SIZE = {size}: must be at least 1")
    if size == 1:
        return World()
    missing = [name for name in ENVIRONMENT_VARIABLES if not environment.get(name)]
    if missing:
        raise ValueError(
            f"WORLD_SIZE = {size} but {', '.join(missing)} not set: launch multi-process training with "
            "torchrun (e.g. torchrun --nproc_per_node=N ...)"
        )
    rank, local_rank = _integer(environment, "RANK"), _integer(environment, "LOCAL_RANK")
    if not 0 <= rank < size:
        raise ValueError(f"RANK = {rank}: must be in [0, WORLD_SIZE = {size})")
    if local_rank < 0:
        raise ValueError(f"LOCAL_RANK = {local_rank}: must be non-negative")
    return World(rank=rank, size=size, local_rank=local_rank)


def _integer(environment: Mapping[str, str], name: str, default: str | None = None) -> int:
    text = environment.get(name, default)
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {text!r}: must be an integer") from None


def rank_device(name: str, world: World) -> torch.device:
    """The training device of this rank: ``resolve_device(name)`` for one process;
    under torchrun ``cuda:LOCAL_RANK`` for ``"auto"`` (CUDA present) and ``"cuda"``,
    the CPU for ``"cpu"``. A fixed ``"cuda:N"`` is refused: every rank would use it."""
    if not world.is_distributed:
        return resolve_device(name)
    if name.startswith("cuda:"):
        raise ValueError(
            f"training.device = {name!r}: under torchrun each rank trains on cuda:LOCAL_RANK; "
            "set it to 'auto' or 'cuda'"
        )
    device = resolve_device(name)
    if device.type == "cpu":
        return device
    if world.local_rank >= torch.cuda.device_count():
        raise RuntimeError(
            f"LOCAL_RANK = {world.local_rank} but this machine has {torch.cuda.device_count()} CUDA device(s); "
            "start at most that many processes per node"
        )
    return torch.device("cuda", world.local_rank)


def join_process_group(world: World, device: torch.device) -> None:
    """Join the default process group once per process (nothing for one process):
    ``nccl`` when training on CUDA, ``gloo`` on the CPU. It stays open for later
    ``fit`` calls of the same process (a torchrun worker may train several models)
    and is destroyed at exit; tearing it down between calls would let the next group
    read the previous one's stale addresses from torchrun's store."""
    if not world.is_distributed:
        return
    if dist.is_initialized():
        if (dist.get_rank(), dist.get_world_size()) != (world.rank, world.size):
            raise RuntimeError(
                f"the initialised process group is rank {dist.get_rank()} of {dist.get_world_size()}, "
                f"but the environment says rank {world.rank} of {world.size}"
            )
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method="env://", rank=world.rank, world_size=world.size)
    atexit.register(_leave_process_group)


def _leave_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def batch_shard(batch_size: int, world: World) -> BatchShard:
    """This rank's equal share of a global batch of ``batch_size`` samples."""
    if batch_size % world.size:
        raise ValueError(f"a batch of {batch_size} samples does not split evenly over {world.size} processes")
    share = batch_size // world.size
    return BatchShard(start=world.rank * share, stop=(world.rank + 1) * share, size=batch_size)


def check_even_batches(sample_count: int, batch_size: int, drop_last: bool, world: World) -> None:
    """Every batch of an epoch must split evenly over the ranks (equal shares keep the
    averaged gradient equal to the global batch's); a ``ValueError`` names the setting."""
    if batch_size % world.size:
        raise ValueError(
            f"training.batch_size = {batch_size} does not split evenly over WORLD_SIZE = {world.size} "
            "processes; choose a multiple of the number of processes"
        )
    last = sample_count % batch_size
    if not drop_last and last % world.size:
        raise ValueError(
            f"training.drop_last = false leaves a last batch of {last} samples, which does not split evenly "
            f"over WORLD_SIZE = {world.size} processes; set drop_last to true or change batch_size"
        )


class _TrainingLosses(nn.Module):
    """``model.training_losses`` as a module's forward, so DDP can wrap it (DDP prepares
    its gradient reduction in ``forward``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: torch.Tensor, generator: torch.Generator, **options: Any) -> Any:
        return self.model.training_losses(batch, generator, **options)


def gradient_averaging_losses(model: nn.Module, device: torch.device, world: World) -> Callable[..., Any]:
    """``model.training_losses`` for one process; under DDP the same call through a
    :class:`DistributedDataParallel` wrapper, whose backward averages the gradients
    over the ranks (and whose construction gives every rank rank 0's weights)."""
    if not world.is_distributed:
        return model.training_losses
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(_TrainingLosses(model), device_ids=device_ids)


def mean_over_ranks(values: torch.Tensor, world: World) -> torch.Tensor:
    """The element-wise mean of ``values`` over the ranks (``values`` itself for one
    process). A NaN or inf on any rank makes the mean non-finite on every rank."""
    if not world.is_distributed:
        return values
    total = values.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / world.size


def wait_for_all_ranks(world: World) -> None:
    """Block until every rank gets here (nothing for one process)."""
    if world.is_distributed:
        dist.barrier()
