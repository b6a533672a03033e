"""Training nodes: select the images, train IRL-INR with the project's training loop."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.pipelines.training.parameters import TrainingParameters
from irl_inr.training import TrainingConfig, fit

logger = logging.getLogger(__name__)


def select_split(images: np.ndarray, table: pd.DataFrame, split: str) -> tuple[np.ndarray, pd.DataFrame]:
    """The rows of ``split`` ('train', 'test' or 'all'), in table order."""
    if len(images) != len(table):
        raise ValueError(f"{len(images)} images but {len(table)} rows in their table")
    if split == "all":
        return images, table
    keep = (table["split"] == split).to_numpy()
    if not keep.any():
        raise ValueError(f"no image has split {split!r}; the table has {sorted(table['split'].unique())}")
    return images[keep], table[keep].reset_index(drop=True)


def images_as_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W) array in [0, 1] -> float32 tensor (N, 1, H, W); rejects NaNs and other shapes."""
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), got {images.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    if not torch.isfinite(tensor).all():
        raise ValueError(f"images hold {int((~torch.isfinite(tensor)).sum())} NaN or infinite pixels")
    return tensor


def checkpoint_path(directory: str, name: str, model: IRLINRConfig, optimisation: TrainingConfig, data_shape) -> Path:
    """One checkpoint file per configuration and data shape: a rerun with the same
    settings resumes it, a run with other settings starts its own."""
    identity = json.dumps(
        {"model": dataclasses.asdict(model), "optimisation": optimisation.fingerprint_fields(), "data": list(data_shape)},
        sort_keys=True,
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return Path(directory) / f"irl_inr-{name}-{digest}.pt"


def train_irl_inr(images: np.ndarray, image_table: pd.DataFrame, parameters: dict) -> tuple[dict, pd.DataFrame]:
    """Train IRL-INR on the selected split of the domain's images.

    Returns the model as ``{"config": {...}, "state_dict": ...}`` (config holds the named
    configuration, the model config and the optimisation settings) and the per-epoch
    history (loss terms, seconds). Checkpoints go to ``training.checkpoint_dir``."""
    options = TrainingParameters.from_dict(parameters)
    model_config, optimisation = options.selected()
    images, _ = select_split(images, image_table, options.split)
    data = images_as_tensor(images)
    if data.shape[-1] != model_config.image_size or data.shape[-2] != model_config.image_size:
        raise ValueError(
            f"training.configurations.{options.config}.model.image_size = {model_config.image_size} but the images are "
            f"{data.shape[-2]}x{data.shape[-1]}"
        )
    torch.manual_seed(optimisation.seed)
    model = IRLINR(model_config)
    path = checkpoint_path(options.checkpoint_dir, options.config, model_config, optimisation, data.shape)
    logger.info("Training IRL-INR (%s) on %d images; checkpoints in %s", options.config, len(data), path)
    result = fit(model, data, optimisation, checkpoint_path=path, progress=options.progress)
    bundle = {
        "config": {
            "name": options.config,
            "model": dataclasses.asdict(model_config),
            "optimisation": optimisation.to_dict(),
        },
        "state_dict": result.state_dict,
    }
    return bundle, result.history


def load_irl_inr(bundle: dict) -> IRLINR:
    """Rebuild a trained model from what :func:`train_irl_inr` returned (in eval mode)."""
    model = IRLINR(IRLINRConfig.from_dict(bundle["config"]["model"]))
    model.load_state_dict(bundle["state_dict"])
    return model.eval()
