"""A tiny model for the training-loop tests, and a script that trains it.

``ToyAutoencoder`` is a linear autoencoder on 4x4 one-channel images that
augments with Gaussian noise drawn from the generator ``fit`` passes in, and uses
dropout (torch's global RNG), so both random streams are exercised by the resume
tests. It is shard-aware: both draws are made for the whole global batch and
sliced to the rows of its ``shard``, so a multi-process run replays the single
process exactly. Hooks let a test crash it, poison a loss term with NaN, or slow it
down.

Run as a script (the ``kill -9`` test)::

    python toy.py CHECKPOINT CONFIG_JSON DELAY_SECONDS
"""

from __future__ import annotations

import json
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

SIDE = 4
DROPOUT = 0.1


class SimulatedCrash(RuntimeError):
    """Raised from ``training_losses`` to simulate a process dying mid-run."""


class ToyAutoencoder(nn.Module):
    def __init__(self, latent: int = 4) -> None:
        super().__init__()
        self.encoder = nn.Linear(SIDE * SIDE, latent)
        self.decoder = nn.Linear(latent, SIDE * SIDE)
        self.calls = 0  # training_losses calls in this process
        self.crash_at_call: int | None = None
        self.nan_at_call: int | None = None
        self.delay = 0.0

    def training_losses(self, batch: torch.Tensor, generator: torch.Generator, shard=None) -> dict[str, torch.Tensor]:
        call, self.calls = self.calls, self.calls + 1
        if self.delay:
            time.sleep(self.delay)
        if call == self.crash_at_call:
            raise SimulatedCrash(f"simulated crash in call {call}")
        x = batch.flatten(1)
        rows, size = (shard.rows, shard.size) if shard is not None else (slice(None), len(x))
        noise = 0.05 * torch.randn((size, x.shape[1]), generator=generator, device=x.device, dtype=x.dtype)[rows]
        kept = (torch.rand((size, x.shape[1]), device=x.device) >= DROPOUT)[rows]  # torch's global RNG
        code = self.encoder((x + noise) * kept / (1 - DROPOUT))
        recon = F.mse_loss(self.decoder(code), x)
        latent_l2 = 1e-3 * code.pow(2).mean()
        if call == self.nan_at_call:
            recon = recon * float("nan")
        return {"total": recon + latent_l2, "recon": recon, "latent_l2": latent_l2}


def make_model(seed: int = 0, **kwargs) -> ToyAutoencoder:
    """A model initialised from ``seed`` without touching the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ToyAutoencoder(**kwargs)


def make_data(count: int = 64, seed: int = 0) -> torch.Tensor:
    """``(count, 1, 4, 4)`` images close to a 3-dimensional subspace."""
    generator = torch.Generator().manual_seed(seed)
    basis = torch.randn(3, SIDE * SIDE, generator=generator)
    codes = torch.randn(count, 3, generator=generator)
    noise = 0.01 * torch.randn(count, SIDE * SIDE, generator=generator)
    return (codes @ basis + noise).reshape(count, 1, SIDE, SIDE)


def assert_same_weights(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    """Bit-for-bit equality of two state dicts."""
    assert left.keys() == right.keys()
    for name in left:
        assert torch.equal(left[name], right[name]), f"{name} differs"


def main(argv: list[str]) -> None:
    from irl_inr.training import TrainingConfig, fit

    checkpoint, config_json, delay = argv
    model = make_model()
    model.delay = float(delay)
    fit(model, make_data(), TrainingConfig.from_dict(json.loads(config_json)), checkpoint, progress=False)


if __name__ == "__main__":
    main(sys.argv[1:])
