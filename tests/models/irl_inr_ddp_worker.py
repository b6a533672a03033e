"""The tiny IRL-INR run of the DDP test, and one process of its ``torchrun`` launch::

    torchrun --nproc_per_node=2 --master_port PORT irl_inr_ddp_worker.py OUTPUT_DIR [VIEWS]

Every rank trains ``make_model(VIEWS)`` (``contrastive_views``, default 2) on
``make_data()`` with ``CONFIG`` and writes its final weights and history to
``OUTPUT_DIR/rank<r>.pt``; the test trains the same in one process.  Every batch-wide part of the training step is on: batch norms in the
small CNN, standardised codes, NT-Xent, the variance, covariance and isometry terms
(the isometry codes span both ranks' rows), moment alignment with jitter, sampled
reconstruction pixels, and with VIEWS > 2 encoder-only views in NT-Xent."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import torch

from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.training import TrainingConfig, fit

MODEL = IRLINRConfig(
    image_size=20,
    latent_dim=8,
    encoder_head_hidden=32,
    backbone="small_cnn",
    alignment="moments",
    standardise_code=True,
    consistency="nt_xent",
    num_frequencies=8,
    inr_hidden=(16, 16),
    hypernetwork_hidden=(32,),
    reconstruction_pixels=50,
    max_shift_pixels=2.0,
    variance_weight=0.5,
    covariance_weight=0.5,
    isometry_weight=0.1,
    isometry_codes=6,  # rows 0..5 of a batch of 8: both ranks' codes
)
# 3 steps of a global batch of 8 (4 per process).
CONFIG = TrainingConfig(epochs=1, batch_size=8, learning_rate=1e-3, seed=11, device="cpu", num_threads=1)


def make_model(views: int = 2) -> IRLINR:
    """The model with ``views`` contrastive views, initialised from seed 0 without touching
    the caller's global RNG, with no parameter whose exact gradient is zero.  Adam turns
    the rounding noise of such a gradient, which depends on the order of float additions,
    into a full step of random sign, so two exact implementations part there by the
    learning rate (measured: one process against itself with weights perturbed by 1e-7
    differs by 4e-2 after 3 steps).
    The zeros: the code head's bias, cancelled by the standardisation (frozen here), and
    at the first step the trunk's last bias, while the pose heads start at zero (they
    start small and random here)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = IRLINR(dataclasses.replace(MODEL, contrastive_views=views))
        model.encoder.code_head.bias.requires_grad_(False)
        with torch.no_grad():
            for head in (model.encoder.rotation_head, model.encoder.translation_head):
                head.weight.normal_(0, 0.05)
    return model


def make_data() -> torch.Tensor:
    """24 sparse (24, 1, 20, 20) images in [0, 1]."""
    generator = torch.Generator().manual_seed(1)
    return torch.rand(24, 1, MODEL.image_size, MODEL.image_size, generator=generator) ** 4


def main(output_dir: Path, views: int) -> None:
    result = fit(make_model(views), make_data(), CONFIG, progress=False)
    payload = {"state_dict": result.state_dict, "history": result.history.to_dict("list")}
    torch.save(payload, output_dir / f"rank{os.environ['RANK']}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2)
