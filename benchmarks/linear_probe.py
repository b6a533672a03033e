"""How much of the labels a run's code holds at all: the supervised ceiling of a linear
read-out, to set a clustering's accuracy against.

    python benchmarks/linear_probe.py                       # the MNIST-U run under data/
    python benchmarks/linear_probe.py --run ../full-run     # another clone's run
    python benchmarks/linear_probe.py --smoke               # seconds: a synthetic run, to see that it runs

Reads a run's codes (`data/07_model_output/<domain>/semantic_codes.npy`) and its images
and labels (`data/03_primary/<domain>/`).  Prints one JSON line: the 5-fold
cross-validated accuracy of a logistic regression on the unit-length codes, over every
class and for 6 against 9 alone, and the same 6-against-9 read-out on the pixels
canonicalised by image moments (the closed-form bar).  The labels train these read-outs
here and nowhere else: this is a measurement of a finished run, not part of the method.
A clustering (SCAN, self-labelling) that reaches the 10-class figure has taken from the
code all a linear classifier could; the rest must come from a better code.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

from irl_inr.metrics.clustering import SIX_NINE
from irl_inr.moments import canonicalise

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=PROJECT_ROOT, help="the project clone whose data/ holds the run")
    parser.add_argument("--domain", default="mnist_u")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="seconds: a synthetic run of 60 images, 2 folds")
    return parser.parse_args()


def synthetic_run(folder: Path, domain: str, seed: int) -> Path:
    """A run's files for ``--smoke``: 60 random codes, 50x50 images and labels 0..9."""
    rng = np.random.default_rng(seed)
    for layer in ("07_model_output", "03_primary"):
        (folder / "data" / layer / domain).mkdir(parents=True)
    labels = np.arange(60) % 10
    codes = rng.normal(size=(60, 8)) + labels[:, None]
    np.save(folder / "data/07_model_output" / domain / "semantic_codes.npy", codes)
    np.save(folder / "data/03_primary" / domain / "images.npy", rng.random((60, 50, 50), dtype=np.float32))
    pd.DataFrame({"label": labels}).to_parquet(folder / "data/03_primary" / domain / "image_table.parquet")
    return folder


def read_out_accuracy(features: np.ndarray, labels: np.ndarray, strength: float, folds: int, seed: int) -> float:
    """Mean held-out accuracy of an L2-regularised logistic regression (inverse strength
    ``strength``) over stratified folds."""
    classifier = LogisticRegression(C=strength, max_iter=2000)
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(classifier, features, labels, cv=splits).mean())


def main() -> None:
    args = parse_args()
    if args.smoke:
        with tempfile.TemporaryDirectory() as folder:
            args.run, args.folds = synthetic_run(Path(folder), args.domain, args.seed), 2
            probe(args)
    else:
        probe(args)


def probe(args: argparse.Namespace) -> None:
    data = args.run / "data"
    codes = np.load(data / "07_model_output" / args.domain / "semantic_codes.npy")
    table = pd.read_parquet(data / "03_primary" / args.domain / "image_table.parquet")
    if len(table) != len(codes):
        raise SystemExit(
            f"{len(codes)} codes but {len(table)} images: the run embedded one split only; "
            "rerun with embedding.split: all"
        )
    labels = table["label"].to_numpy()
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    result = {
        "run": str(args.run),
        "images": int(len(codes)),
        "linear_acc": round(read_out_accuracy(unit, labels, 10.0, args.folds, args.seed), 4),
    }
    pair = np.isin(labels, SIX_NINE)
    if len(np.unique(labels[pair])) == 2:
        images = np.load(data / "03_primary" / args.domain / "images.npy")[pair]
        canonical = canonicalise(torch.from_numpy(images.astype(np.float32)).unsqueeze(1)).flatten(1).numpy()
        result["six_against_nine"] = int(pair.sum())
        result["linear_acc_6v9"] = round(read_out_accuracy(unit[pair], labels[pair], 10.0, args.folds, args.seed), 4)
        result["linear_acc_6v9_canonical_pixels"] = round(
            read_out_accuracy(canonical, labels[pair], 0.1, args.folds, args.seed), 4
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
