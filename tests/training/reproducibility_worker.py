"""One small IRL-INR run (the fast model with its augmentation, 64 rotated bars and Ls,
12 steps) whose numbers the reproducibility test compares across CPU kernels and thread
counts::

    python -m tests.training.reproducibility_worker THREADS

prints JSON: the loss history, the final weights' norm and a checksum of their bytes, and
the 5-NN label agreement of the codes and the spherical k-means accuracy."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys

import torch

from irl_inr import baselines, metrics
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.training import TrainingConfig, fit
from tests.models.shapes import rotated_bar_and_ell

MODEL = dataclasses.replace(
    IRLINRConfig.fast(),
    image_size=16, latent_dim=8, encoder_head_hidden=32, num_frequencies=8, inr_hidden=(16, 16),
    hypernetwork_hidden=(32,), reconstruction_pixels=64, max_shift_pixels=1.0, alignment_jitter_pixels=0.5,
)  # fmt: skip


def main(threads: int) -> None:
    images, labels, _ = rotated_bar_and_ell(64, seed=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = IRLINR(MODEL)
    config = TrainingConfig(epochs=3, batch_size=16, learning_rate=1e-3, seed=3, device="cpu", num_threads=threads)
    result = fit(model, images, config, progress=False)
    model.load_state_dict(result.state_dict)
    with torch.no_grad():
        codes = model.eval().encode(images).semantic_code.numpy()
    neighbours, _ = metrics.nearest_neighbours(codes, 5)
    weights = torch.cat([value.flatten().double() for value in result.state_dict.values() if value.is_floating_point()])
    print(json.dumps({
        "losses": result.history["total"].tolist(),
        "weight_norm": weights.norm().item(),
        "weight_bytes": hashlib.sha256(weights.numpy().tobytes()).hexdigest(),
        "neighbour_acc": metrics.neighbour_accuracy(labels.numpy(), neighbours),
        "kmeans_acc": metrics.clustering_accuracy(labels.numpy(), baselines.spherical_kmeans(codes, 2)),
    }))  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]))
