"""What :func:`~irl_inr.training.fit` needs: a model, an ``nn.Module`` with
``training_losses(batch, generator)`` (and whether it draws for a whole global batch);
the data it reads are in :mod:`.data`."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Protocol

import torch
from torch import nn


class TrainableModel(Protocol):
    """What :func:`fit` needs from a model (besides being an ``nn.Module``)."""

    def training_losses(self, batch: torch.Tensor, generator: torch.Generator) -> Mapping[str, torch.Tensor]: ...


def accepts_shard(model: nn.Module) -> bool:
    """Whether ``model.training_losses`` takes a ``shard`` keyword (a
    :class:`~.distributed.BatchShard`) and so draws its randomness for the whole
    global batch, keeping the rows of its shard."""
    return "shard" in inspect.signature(model.training_losses).parameters
