"""Polyak averaging: an exponential moving average of a model's weights, kept beside the
training and returned instead of the last weights.

At a constant learning rate the weights keep wandering around the optimum they have
reached; their recent mean sits nearer its centre. On the full MNIST-U run (10,000
digits) the average of the last epochs' weights gave codes with a higher 20-NN label
agreement than any single epoch's weights (README, "IRL-INR").

The average covers every floating-point entry of the ``state_dict`` (weights and the batch
norms' running statistics alike, so the statistics go with the weights they were measured
under); integer buffers (``num_batches_tracked``) are the live model's."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .checkpoint import cpu_state_dict


class WeightAverage:
    """The exponentially weighted mean of ``model``'s floating-point state over the optimiser
    steps taken so far: after step ``t`` it is ``sum_s decay**(t - s) * w_s / sum_s decay**(t - s)``
    over the states ``w_1 .. w_t`` after steps ``1 .. t``, a horizon of about ``1 / (1 - decay)``
    steps. The division by the weights' sum (the bias correction of Adam's moments) leaves
    the random initialisation out from the first step on."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight average decay must be in (0, 1), got {decay!r}")
        self.decay = float(decay)
        with torch.no_grad():
            self.average = {
                name: tensor.detach().clone()
                for name, tensor in model.state_dict().items()
                if tensor.is_floating_point()
            }

    def update(self, model: nn.Module, steps: int) -> None:
        """Take in ``model``'s state after its ``steps``-th optimiser step (1, 2, ...):
        ``average += (w_t - average) * (1 - decay) / (1 - decay**t)``."""
        if steps < 1:
            raise ValueError(f"weight average: steps counts from 1, got {steps}")
        share = (1.0 - self.decay) / (1.0 - self.decay**steps)  # 1 at the first step
        state = model.state_dict()
        with torch.no_grad():
            for name, average in self.average.items():
                average.lerp_(state[name].detach().to(average.dtype), share)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged entries (detached CPU copies), for a checkpoint."""
        return cpu_state_dict(self.average)

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore the averaged entries from :meth:`state_dict`; names and shapes must match."""
        if set(state) != set(self.average):
            missing, unexpected = sorted(set(self.average) - set(state)), sorted(set(state) - set(self.average))
            raise KeyError(f"weight average: missing {missing}, unexpected {unexpected}")
        with torch.no_grad():
            for name, average in self.average.items():
                if tuple(state[name].shape) != tuple(average.shape):
                    raise ValueError(
                        f"weight average: {name} has shape {tuple(state[name].shape)}, the model {tuple(average.shape)}"
                    )
                average.copy_(state[name])

    def averaged_model_state(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """``model``'s ``state_dict`` with the averaged entries in place of the live ones
        (detached CPU copies)."""
        return cpu_state_dict(
            {name: self.average.get(name, tensor) for name, tensor in model.state_dict().items()}
        )
