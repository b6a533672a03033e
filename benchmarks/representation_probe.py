"""How clusterable one training recipe makes the code: train IRL-INR on a run's images of
a domain (`--domain`, MNIST-U unless named) with a named configuration of that domain
(`fast` unless `--config`) plus overrides, then measure its codes.

    python benchmarks/representation_probe.py                                  # the fast configuration as it is
    python benchmarks/representation_probe.py --model '{"augment_scale": 0}' --optimisation '{"epochs": 8}'
    python benchmarks/representation_probe.py --config paper --steps 20 --threads 2   # a bounded paper run
    python benchmarks/representation_probe.py --smoke          # seconds: a tiny model, 2 steps on 40 random images
    python benchmarks/representation_probe.py --domain wm811k --neighbours 10 --threads 2 \
        --model '{"contrastive_views": 2, "augment_mirror": false}'   # a wafer probe (after kedro run --pipelines wm811k)
    python benchmarks/representation_probe.py --model '{"alignment": "none", "alignment_jitter_degrees": 0,
        "alignment_jitter_pixels": 0, "code_rotations_degrees": [0]}'   # no moment alignment: one-pass codes only

Reads the images and labels a run wrote (`data/03_primary/<domain>/`, after `kedro run` or
`dvc repro`) and the domain's training configurations as `kedro run` sees them
(`parameters_training.yml` under the domain's differences); labels only score the codes.
Prints one JSON line: the overrides, training seconds, the k-NN label agreement of z
(cosine, as `neighbour_acc`), the ACC of spherical k-means and of k-means on z (as
`kmeans_z_normalised` and `kmeans_z`, one cluster per label class), the linear read-out
(as `linear_probe`), the first two also for the one-pass code
(`code_rotations_degrees` [0], as probes measured before it), the mean cosine between different
images, and the loss terms on the first 128 images after training.  README's augmentation
table is this script's output, one line per recipe (1 thread, seed 0 unless stated).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from irl_inr import baselines, metrics, settings
from irl_inr.metrics.readout import linear_probe_accuracy
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.training import TrainingConfig, fit

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="mnist_u", help="whose images and training configurations")
    parser.add_argument("--config", default="fast", help="the domain's training configuration to start from")
    parser.add_argument("--model", default="{}", help="JSON: overrides of the configuration's model block")
    parser.add_argument("--optimisation", default="{}", help="JSON: overrides of its optimisation block")
    parser.add_argument("--data", type=Path, default=None, help="default: data/03_primary/<domain>")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--neighbours", type=int, default=20)
    parser.add_argument("--steps", type=int, default=None, help="stop after this many optimiser steps (default: all epochs)")
    parser.add_argument("--smoke", action="store_true", help="seconds: a tiny model, 2 steps on 40 random images")
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.neighbours = 2, 3
        args.model = json.dumps({"latent_dim": 4, "num_frequencies": 8, "inr_hidden": [8], "hypernetwork_hidden": [16],
                                 **json.loads(args.model)})
        args.optimisation = json.dumps({"batch_size": 8, **json.loads(args.optimisation)})
    return args


def smoke_images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``--smoke``'s data: 40 random images of the configured size, labels 0..9."""
    return np.random.default_rng(0).random((40, size, size), dtype=np.float32), np.arange(40) % 10


def main() -> None:
    args = parse_args()
    model_overrides, optimisation_overrides = json.loads(args.model), json.loads(args.optimisation)
    loader = settings.CONFIG_LOADER_CLASS(str(PROJECT_ROOT / "conf"), **settings.CONFIG_LOADER_ARGS)
    chosen = loader["parameters"][args.domain]["training"]["configurations"][args.config]
    model_config = IRLINRConfig.from_dict({**chosen["model"], **model_overrides})
    optimisation = TrainingConfig.from_dict(
        {**chosen["optimisation"], **optimisation_overrides, "device": "cpu", "num_threads": args.threads}
    )
    if args.smoke:
        images, labels = smoke_images(model_config.image_size)
    else:
        folder = args.data or PROJECT_ROOT / "data/03_primary" / args.domain
        images = np.load(folder / "images.npy")
        labels = pd.read_parquet(folder / "image_table.parquet")["label"].to_numpy()
    classes = len(np.unique(labels))
    data = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)  # (N, 1, H, W)

    torch.manual_seed(optimisation.seed)
    model = IRLINR(model_config)
    start = time.perf_counter()
    result = fit(model, data, optimisation, checkpoint_path=None, progress=False, stop_after_steps=args.steps)
    seconds = time.perf_counter() - start
    torch.set_num_threads(args.threads)  # fit restored the caller's count
    with torch.no_grad():
        model.eval()
        codes = torch.cat([model.encode(batch).semantic_code for batch in data.split(256)]).numpy()
        # The one-pass code, as probes before code_rotations_degrees measured it.
        single_pass = torch.cat([model.encoder(batch).semantic_code for batch in data.split(256)]).numpy()
        # The loss terms on the first 128 images after training (eval mode, fixed draws):
        # a run stopped inside its first epoch has no epoch row in its history.
        after = model.training_losses(data[:128], torch.Generator().manual_seed(0))

    neighbours, _ = metrics.nearest_neighbours(codes, args.neighbours)
    single_neighbours, _ = metrics.nearest_neighbours(single_pass, args.neighbours)
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    pairs = np.random.default_rng(0).integers(0, len(unit), size=(2, 2000))
    print(json.dumps({
        "config": args.config,
        "model": model_overrides,
        "optimisation": optimisation_overrides,
        "steps": result.step,
        "train_seconds": round(seconds, 1),
        "neighbour_acc": round(metrics.neighbour_accuracy(labels, neighbours), 4),
        "kmeans_z_normalised_acc": round(
            metrics.clustering_accuracy(labels, baselines.spherical_kmeans(codes, classes)), 4
        ),
        "kmeans_z_acc": round(metrics.clustering_accuracy(labels, baselines.kmeans(codes, classes)), 4),
        "linear_probe": round(linear_probe_accuracy(codes, labels, folds=2 if args.smoke else 5), 4),
        "neighbour_acc_single_pass": round(metrics.neighbour_accuracy(labels, single_neighbours), 4),
        "kmeans_z_normalised_acc_single_pass": round(
            metrics.clustering_accuracy(labels, baselines.spherical_kmeans(single_pass, classes)), 4
        ),
        "between_cos": round(float((unit[pairs[0]] * unit[pairs[1]]).sum(axis=1).mean()), 3),
        "losses_after": {name: round(float(after[name]), 4) for name in ("reconstruction", "consistency", "total")},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
