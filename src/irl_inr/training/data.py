"""What :func:`~irl_inr.training.fit` trains on: a data set read by index.

The loop draws the order of the samples itself (``randperm(len(data))``) and asks the
data set for each batch by the index tensor of its rows, ``data[rows]``; what comes back
is handed to ``model.training_losses`` after ``.to(device, non_blocking=True)``. So a
data set needs ``__len__``, ``__getitem__(rows: LongTensor)`` returning something with
``.to``, ``device`` (where the row indices go) and ``identity_tensor`` (the tensor
whose shape, dtype and a few samples name the data in a checkpoint's identity, see
:func:`~.checkpoint.run_identity`).

A plain tensor (samples along dim 0) is wrapped in :class:`TensorData`: its batches are
its rows, gathered where it lies."""

from __future__ import annotations

from typing import Any, Protocol

import torch


class TrainingData(Protocol):
    """What :func:`fit` reads its batches from (see the module docstring)."""

    device: torch.device

    def __len__(self) -> int: ...

    def __getitem__(self, rows: torch.Tensor) -> Any: ...

    @property
    def identity_tensor(self) -> torch.Tensor: ...


class TensorData:
    """A floating-point tensor as training data: batch ``rows`` is ``tensor[rows]``."""

    def __init__(self, tensor: Any) -> None:
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"data must be a torch.Tensor, got {type(tensor).__name__}")
        if not tensor.is_floating_point():
            raise ValueError(f"data must be a floating-point tensor, got {tensor.dtype}")
        if tensor.ndim < 1 or tensor.shape[0] < 1:
            raise ValueError(f"data must hold at least one sample along dim 0, got shape {tuple(tensor.shape)}")
        self.tensor = tensor
        self.device = tensor.device

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def __getitem__(self, rows: torch.Tensor) -> torch.Tensor:
        return self.tensor.index_select(0, rows)

    @property
    def identity_tensor(self) -> torch.Tensor:
        return self.tensor


def training_data(data: Any) -> TrainingData:
    """``data`` as :class:`TrainingData`: a tensor is wrapped in :class:`TensorData`; any
    other object must be a data set in the sense of the module docstring, with at least
    one sample."""
    if isinstance(data, torch.Tensor):
        return TensorData(data)
    missing = [name for name in ("__len__", "__getitem__", "device", "identity_tensor") if not hasattr(data, name)]
    if missing:
        raise TypeError(f"data must be a torch.Tensor or a training data set; {type(data).__name__} lacks {missing}")
    if len(data) < 1:
        raise ValueError(f"data must hold at least one sample, got {len(data)}")
    return data
