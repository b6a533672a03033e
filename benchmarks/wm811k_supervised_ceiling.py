"""The supervised ceiling on real wafer maps: what labels buy on the pipeline's own images.

    nice -n 19 python benchmarks/wm811k_supervised_ceiling.py --threads 1            # 8 defect types, 32x32
    nice -n 19 python benchmarks/wm811k_supervised_ceiling.py --image-size 32 64 --with-none
    python benchmarks/wm811k_supervised_ceiling.py --smoke                            # seconds, synthetic wafers

Reads ``--pickle`` (default ``../shared/data/wm811k/LSWMD_lots_2k.pkl``, 1,960 real
labelled wafers) with the project's restricted reader (``convert_pickle`` into a
temporary folder, then ``read_converted``) and builds the images exactly as ``kedro run
--pipelines wm811k`` does: ``ingest_wafers`` (nearest-neighbour resize to
``--image-size`` x ``supersample``) and ``rotate_wafers`` (one seeded rotation per wafer,
die-state intensities, block means), with the ``wm811k.ingestion`` / ``wm811k.augmentation`` parameters of
``conf/`` except the image size and the failure types kept (``--classes``, default the
eight defect types; ``--with-none`` adds ``none``).

On those images, stratified k-fold (``--folds``, shuffled with ``--seed``; ``--split
lot`` keeps every lot within one fold):

* ``cnn``: a small CNN (three blocks of 3x3 convolution, batch norm, ReLU and 2x2 max
  pooling, ``--width`` x 1, 2, 4 channels; 4x4 adaptive average pool, a 128-unit hidden
  layer with dropout 0.3, a linear read-out), Adam with a cosine rate over ``--epochs``,
  cross-entropy.  Every training image is turned by a fresh uniform angle in [0, 360)
  each epoch (``--interpolation nearest``, as the front end turns die states, or
  ``bilinear``) and mirrored with probability 1/2; the held-out fold is scored as it is.
* ``trees``: ``HistGradientBoostingClassifier`` (sklearn defaults) on closed-form
  rotation-invariant features of ``irl_inr.invariant_features`` (16 rings, 64 angles):
  the radial profile, and the angular spectrum (magnitudes of frequencies 0..4 per ring;
  frequency 0 is the radial profile).

Labels train these classifiers here and nowhere else: this measures what a code could
reach at that resolution; it is not part of the method.  Prints one JSON line per
(image size, classifier): accuracy and balanced accuracy over the folds (mean, standard
deviation with ddof 1, per fold), recall of every class over the pooled held-out
predictions, the class counts, wall and CPU seconds; each fold's accuracy goes to stderr
as it comes.  ``--smoke`` runs every step on 1,000
synthetic wafers (the generator of ``wm811k_reader_memory.py``) at 16x16 for one epoch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from torch import nn

from irl_inr import settings
from irl_inr.geometry import transform_images
from irl_inr.invariant_features import angular_spectrum, radial_profile
from irl_inr.domains.wm811k.conversion import convert_pickle, read_converted
from irl_inr.domains.wm811k.nodes import ingest_wafers, rotate_wafers
from irl_inr.domains.wm811k.parameters import FAILURE_TYPES

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PICKLE = PROJECT_ROOT.parent / "shared" / "data" / "wm811k" / "LSWMD_lots_2k.pkl"
DEFECT_TYPES = [name for name in FAILURE_TYPES if name != "none"]
RINGS, ANGLES, FREQUENCIES = 16, 64, 4
SMOKE_ROWS = 1000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pickle", type=Path, default=DEFAULT_PICKLE, help="an LSWMD-style pickle")
    parser.add_argument("--image-size", type=int, nargs="+", default=[32], help="one setting per size")
    parser.add_argument("--classes", nargs="+", default=DEFECT_TYPES, choices=FAILURE_TYPES, metavar="TYPE",
                        help="failure types kept (default: the eight defect types)")
    parser.add_argument("--with-none", action="store_true", help="keep failure type 'none' too")
    parser.add_argument("--models", nargs="+", choices=["cnn", "trees"], default=["cnn", "trees"])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--split", choices=["wafer", "lot"], default="wafer", help="what the folds share out")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=32, help="channels of the first block (then x2, x4)")
    parser.add_argument("--interpolation", choices=["nearest", "bilinear"], default="nearest")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--smoke", action="store_true", help="seconds: synthetic wafers, 16x16, 1 epoch, 2 folds")
    args = parser.parse_args()
    if args.smoke:
        args.image_size, args.epochs, args.folds, args.width = [16], 1, 2, 4
    return args


# ------------------------------------------------------------------------ the pipeline's images


def project_parameters() -> dict:
    """The merged parameters of ``conf/`` as ``kedro run`` sees them (base + local)."""
    loader = settings.CONFIG_LOADER_CLASS(str(PROJECT_ROOT / "conf"), **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"]


def front_end_sections(parameters: dict, image_size: int, classes: list[str]) -> tuple[dict, dict]:
    """``wm811k.ingestion`` with ``image_size`` and ``classes`` (``drop_none`` unless
    ``none`` is kept), and ``wm811k.augmentation`` as configured."""
    ingestion = dict(parameters["wm811k"]["ingestion"])
    ingestion.update(image_size=image_size, classes=list(classes), drop_none="none" not in classes)
    return ingestion, dict(parameters["wm811k"]["augmentation"])


def wafer_images(
    raw_wafers: dict, parameters: dict, image_size: int, classes: list[str]
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """The pipeline's images (N, S, S) float32 from the read wafers (``ingest_wafers`` then
    ``rotate_wafers``), their labels 0..K-1, the class names in label order and the lots."""
    ingestion, augmentation = front_end_sections(parameters, image_size, classes)
    die_maps, wafer_table = ingest_wafers(raw_wafers, ingestion)
    images, image_table = rotate_wafers(die_maps, wafer_table, ingestion, augmentation)
    names = image_table.drop_duplicates("label").sort_values("label")["label_name"].tolist()
    labels = image_table["label"].to_numpy(dtype=np.int64, copy=True)
    return images, labels, names, image_table["lot_name"].to_numpy()


def read_wafers(pickle_path: Path, folder: Path) -> dict:
    """The pickle through the project's reader: converted to Parquet in ``folder``, read back."""
    parquet = folder / "wafers.parquet"
    convert_pickle(pickle_path, parquet)
    table, maps = read_converted(parquet)
    return {"table": table, "maps": maps, "source": str(pickle_path)}


def synthetic_pickle(folder: Path, seed: int) -> Path:
    """A small LSWMD-style pickle of random wafers (for ``--smoke``: no real data needed)."""
    from wm811k_reader_memory import synthetic_wafer_frame, write_pickle

    path = folder / "synthetic.pkl"
    write_pickle(synthetic_wafer_frame(SMOKE_ROWS, seed), path, "python2")
    return path


# ------------------------------------------------------------------------ the classifiers


class SmallCNN(nn.Module):
    """Three conv blocks (conv 3x3, batch norm, ReLU, max pool 2x2) and an MLP read-out."""

    def __init__(self, classes: int, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for out in (width, 2 * width, 4 * width):
            convolution = nn.Conv2d(channels, out, 3, padding=1, bias=False)
            layers += [convolution, nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(16 * channels, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def augment(batch: torch.Tensor, generator: torch.Generator, interpolation: str) -> torch.Tensor:
    """Each image turned by its own uniform angle about the centre, then mirrored left-right
    with probability 1/2."""
    angles = torch.rand(len(batch), generator=generator) * (2 * math.pi)
    turned = transform_images(batch, angles, mode=interpolation)
    mirrored = torch.rand(len(batch), generator=generator) < 0.5
    return torch.where(mirrored[:, None, None, None], turned.flip(-1), turned)


def train_cnn(
    images: torch.Tensor, labels: torch.Tensor, classes: int, args: argparse.Namespace, seed: int
) -> SmallCNN:
    """A :class:`SmallCNN` trained on (N, 1, S, S) images, deterministic given ``seed``."""
    torch.manual_seed(seed)
    model = SmallCNN(classes, args.width).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    steps_per_epoch = math.ceil(len(images) / args.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=args.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    loss_of = nn.CrossEntropyLoss()
    for _ in range(args.epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), args.batch_size):
            rows = order[start : start + args.batch_size]
            if len(rows) < 2:  # batch norm needs two images
                continue
            loss = loss_of(model(augment(images[rows], generator, args.interpolation)), labels[rows])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    return model.eval()


@torch.no_grad()
def predict_cnn(model: SmallCNN, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    return np.concatenate([model(images[start : start + batch_size]).argmax(1).numpy()
                           for start in range(0, len(images), batch_size)])


def folds_of(labels: np.ndarray, lots: np.ndarray, args: argparse.Namespace) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, held-out rows) per fold, stratified by label (and grouped by lot)."""
    if args.split == "lot":
        splitter = StratifiedGroupKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
        return list(splitter.split(labels, labels, groups=lots))
    splitter = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    return list(splitter.split(labels, labels))


def cross_validate(
    name: str, predict_fold, labels: np.ndarray, folds: list, class_names: list[str]
) -> dict:
    """Scores of ``predict_fold(train rows, held-out rows, fold) -> predictions`` over the folds."""
    start, cpu_start = time.perf_counter(), time.process_time()
    pooled = np.empty_like(labels)
    accuracies, balanced = [], []
    for fold, (train, held_out) in enumerate(folds):
        predicted = predict_fold(train, held_out, fold)
        pooled[held_out] = predicted
        accuracies.append(float((predicted == labels[held_out]).mean()))
        balanced.append(float(balanced_accuracy_score(labels[held_out], predicted)))
        print(f"{name}: fold {fold + 1}/{len(folds)} accuracy {accuracies[-1]:.4f}, "
              f"{time.process_time() - cpu_start:.0f} CPU s so far", file=sys.stderr, flush=True)
    recalls = recall_score(labels, pooled, labels=list(range(len(class_names))), average=None, zero_division=0)
    return {
        "model": name,
        "accuracy_mean": round(float(np.mean(accuracies)), 4),
        "accuracy_std": round(float(np.std(accuracies, ddof=1)), 4),
        "balanced_accuracy_mean": round(float(np.mean(balanced)), 4),
        "balanced_accuracy_std": round(float(np.std(balanced, ddof=1)), 4),
        "fold_accuracies": [round(value, 4) for value in accuracies],
        "recall_per_class": {cls: round(float(value), 3) for cls, value in zip(class_names, recalls)},
        "seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds": round(time.process_time() - cpu_start, 1),
    }


def cnn_predictor(images: np.ndarray, labels: np.ndarray, classes: int, args: argparse.Namespace):
    """``predict_fold`` of the CNN: trained on the fold's training rows (seed + fold)."""
    tensor = torch.from_numpy(images).unsqueeze(1)
    targets = torch.from_numpy(labels)

    def predict_fold(train: np.ndarray, held_out: np.ndarray, fold: int) -> np.ndarray:
        model = train_cnn(tensor[train], targets[train], classes, args, args.seed + fold)
        return predict_cnn(model, tensor[held_out])

    return predict_fold


def trees_predictor(features: np.ndarray, labels: np.ndarray, seed: int, smoke: bool):
    """``predict_fold`` of boosted trees on ``features`` (sklearn's defaults; 5 rounds in a smoke run)."""

    def predict_fold(train: np.ndarray, held_out: np.ndarray, fold: int) -> np.ndarray:
        trees = HistGradientBoostingClassifier(max_iter=5 if smoke else 100, random_state=seed + fold)
        return trees.fit(features[train], labels[train]).predict(features[held_out])

    return predict_fold


def invariant_features(images: np.ndarray) -> dict[str, np.ndarray]:
    """The closed-form rotation-invariant features the trees read, by name."""
    return {
        "radial_profile": radial_profile(images, RINGS, ANGLES),
        "angular_spectrum": angular_spectrum(images, RINGS, ANGLES, FREQUENCIES),
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    classes = [*args.classes, *(["none"] if args.with_none and "none" not in args.classes else [])]
    parameters = project_parameters()
    with tempfile.TemporaryDirectory(prefix="wm811k_ceiling_") as folder:
        pickle_path = synthetic_pickle(Path(folder), args.seed) if args.smoke else args.pickle
        raw_wafers = read_wafers(pickle_path, Path(folder))
    for size in args.image_size:
        images, labels, class_names, lots = wafer_images(raw_wafers, parameters, size, classes)
        folds = folds_of(labels, lots, args)
        setting = {
            "image_size": size,
            "images": len(images),
            "class_counts": dict(zip(class_names, np.bincount(labels).tolist())),
            "folds": args.folds,
            "split": args.split,
            "seed": args.seed,
            "threads": args.threads,
            "source": "synthetic (smoke)" if args.smoke else str(pickle_path),
        }
        runs = []
        if "cnn" in args.models:
            cnn = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                   "width": args.width, "interpolation": args.interpolation}
            runs.append(("cnn", cnn_predictor(images, labels, len(class_names), args), cnn))
        if "trees" in args.models:
            for feature, values in invariant_features(images).items():
                described = {"features": feature, "feature_count": values.shape[1]}
                runs.append((f"trees_{feature}", trees_predictor(values, labels, args.seed, args.smoke), described))
        for name, predict_fold, described in runs:
            scores = cross_validate(name, predict_fold, labels, folds, class_names)
            print(json.dumps({**scores, **setting, **described}), flush=True)


if __name__ == "__main__":
    main()
