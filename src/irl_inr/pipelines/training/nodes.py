"""Training nodes: select the images, train IRL-INR with the project's training loop."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import torch

from irl_inr.inference import images_as_tensor
from irl_inr.models.irl_inr import IRLINR
from irl_inr.pipelines.training.parameters import TrainingParameters
from irl_inr.tables import select_split
from irl_inr.training import checkpoint_file, fit

logger = logging.getLogger(__name__)


def train_irl_inr(images: np.ndarray, image_table: pd.DataFrame, parameters: dict) -> tuple[dict, pd.DataFrame]:
    """Train IRL-INR on the selected split of the domain's images.

    Returns the model as ``{"config": {...}, "state_dict": ...}`` (config holds the named
    configuration, the model config and the optimisation settings) and the per-epoch
    history (loss terms, seconds). Checkpoints go to ``training.checkpoint_dir``, one
    file per configuration and data shape."""
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
    path = checkpoint_file(
        options.checkpoint_dir, f"irl_inr-{options.config}", model_config.training_fields(),
        optimisation.fingerprint_fields(), list(data.shape),
    )
    logger.info("Training IRL-INR (%s) on %d images; checkpoints in %s", options.config, len(data), path)
    result = fit(model, data, optimisation, checkpoint_path=path, progress=options.progress)
    irl_inr_model = {
        "config": {
            "name": options.config,
            "model": dataclasses.asdict(model_config),
            "optimisation": optimisation.to_dict(),
        },
        "state_dict": result.state_dict,
    }
    return irl_inr_model, result.history
