"""The outputs of a tiny generated run (3 classes of bar images, 30 images), in the
shapes and with the names the report reads, for the report's tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

SIZE = 16
CLASSES = ("horizontal", "vertical", "square")
IMAGES = 30


def _shape(label: int, shift: int) -> np.ndarray:
    image = np.zeros((SIZE, SIZE), dtype=np.float32)
    centre = SIZE // 2 + shift
    if label == 0:
        image[centre - 1 : centre + 1, 3:13] = 1.0
    elif label == 1:
        image[3:13, centre - 1 : centre + 1] = 1.0
    else:
        image[centre - 3 : centre + 3, centre - 3 : centre + 3] = 1.0
    return image


def tiny_report_inputs(with_label_names: bool = True) -> dict:
    """Every keyword input of ``build_report`` (parameters included) for a tiny run that
    embedded and clustered the test split (12 images)."""
    rng = np.random.default_rng(0)
    labels = np.arange(IMAGES) % len(CLASSES)
    shifts = rng.integers(-2, 3, size=IMAGES)
    images = np.stack([_shape(int(label), int(shift)) for label, shift in zip(labels, shifts)])
    image_table = pd.DataFrame({
        "image_id": np.arange(IMAGES, dtype=np.int64),
        "label": labels.astype(np.int64),
        "split": np.where(np.arange(IMAGES) < 18, "train", "test"),
        "rotation_radians": rng.uniform(0, 2 * np.pi, IMAGES),
        "shift_x_pixels": shifts.astype(np.float64),
        "shift_y_pixels": np.zeros(IMAGES),
    })
    if with_label_names:
        image_table.insert(2, "label_name", [CLASSES[label] for label in labels])
    embedded = image_table[image_table["split"] == "test"].reset_index(drop=True)
    rows = embedded["image_id"].to_numpy()
    predicted_poses = embedded[["image_id", "label", "split"]].assign(
        predicted_rotation_radians=rng.uniform(0, 2 * np.pi, len(rows)).astype(np.float32),
        predicted_shift_x_pixels=np.zeros(len(rows), dtype=np.float32),
        predicted_shift_y_pixels=np.zeros(len(rows), dtype=np.float32),
    )
    codes = (np.eye(len(CLASSES), 4)[embedded["label"]] + 0.05 * rng.normal(size=(len(rows), 4))).astype(np.float32)
    canonical = np.stack([_shape(int(label), 0) for label in embedded["label"]])
    clusters = (embedded["label"].to_numpy() + 1) % len(CLASSES)  # every cluster one class, under other numbers
    cluster_assignments = pd.DataFrame({
        "image_id": rows, "label": embedded["label"],
        "kmeans_z": clusters, "selflabel": np.where(np.arange(len(rows)) < 3, 0, clusters),
        "selflabel_confidence": rng.uniform(0.5, 1.0, len(rows)).astype(np.float32),
    })
    clustering_comparison = pd.DataFrame({
        "method": ["kmeans_z", "selflabel"], "acc": [1.0, 0.8333], "nmi": [1.0, 0.8], "ari": [1.0, 0.7],
        "empty_clusters": [0, 0], "train_seconds": [0.1, 2.5],
    })
    return {
        "reporting_parameters": {"domain": "tiny_bars", "map_sample_size": 100, "map_perplexity": 5.0,
                                 "figure_width_inches": 6.0, "figure_dpi": 40, "samples_per_class": 4,
                                 "reconstruction_count": 4, "exemplars": 3},
        "images": images,
        "image_table": image_table,
        "training_history": pd.DataFrame({
            "epoch": [1, 2, 3], "step": [4, 8, 12], "reconstruction": [0.3, 0.2, 0.1],
            "consistency": [1.0, -0.5, -1.0], "total": [1.3, -0.3, -0.9], "grad_norm": [2.0, 1.0, 0.5],
            "seconds": [1.0, 1.1, 0.9], "learning_rate": [1e-3] * 3,
        }),
        "semantic_codes": codes,
        "predicted_poses": predicted_poses,
        "reconstructions": np.clip(images[rows] + 0.1, 0, 1),
        "canonical_images": canonical,
        "embedding_metrics": {"images": len(rows), "invariance_cos": 0.98, "between_cos": 0.2, "pose_error_deg": 3.5},
        "cluster_assignments": cluster_assignments,
        "clustering_comparison": clustering_comparison,
        "mining_metrics": {"images": len(rows), "neighbours": 5, "neighbour_acc": 0.9},
        "parameters": {
            "training": {"config": "fast", "configurations": {"fast": {"model": {"latent_dim": 4}},
                                                              "paper": {"model": {"latent_dim": 256}}}},
            "embedding": {"split": "test"},
            "clustering": {"n_clusters": 3, "split": "all"},
            "interpretation": {"supervised": True, "class_dims": 2},
            "isometry": {"sample_size": 20},
        },
        "provenance": {
            "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": True},
            "dvc_lock": "feedc0ffee123456",
            "python": "3.11.7",
            "packages": {"torch": "2.14.1", "mlxtend": "0.25.0", "faiss-cpu": "1.15.1"},
            "data_sources": {"bars": "generated: 30 images"},
        },
    }
