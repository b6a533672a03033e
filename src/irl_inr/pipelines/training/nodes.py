"""Training nodes: select the images, train IRL-INR with the project's training loop."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from irl_inr.inference import images_as_tensor
from irl_inr.models.irl_inr import IRLINR
from irl_inr.pipelines.training.parameters import TrainingParameters
from irl_inr.tables import select_split
from irl_inr.training import TrainingConfig, check_resumable, checkpoint_file, fit, state_signature

logger = logging.getLogger(__name__)


def irl_inr_run(
    images: np.ndarray, image_table: pd.DataFrame, options: TrainingParameters
) -> tuple[IRLINR, torch.Tensor, TrainingConfig, Path]:
    """What :func:`train_irl_inr` trains: the model at its seeded start, the images of
    ``training.split``, the optimisation, and the checkpoint file, named by everything
    the result depends on (the settings, the model's parameter shapes and the images
    themselves, so other images of the same shape get their own)."""
    model_config, optimisation = options.selected()
    images, _ = select_split(images, image_table, options.split)
    data = images_as_tensor(images)
    model_config = dataclasses.replace(model_config, channels=data.shape[1])  # read off the images
    if data.shape[-1] != model_config.image_size or data.shape[-2] != model_config.image_size:
        raise ValueError(
            f"training.configurations.{options.config}.model.image_size = {model_config.image_size} but the images are "
            f"{data.shape[-2]}x{data.shape[-1]}"
        )
    torch.manual_seed(optimisation.seed)
    model = IRLINR(model_config)
    path = checkpoint_file(
        options.checkpoint_dir, f"irl_inr-{options.config}", model_config.training_fields(),
        optimisation.fingerprint_fields(), state_signature(model), data,
    )
    return model, data, optimisation, path


def check_training_checkpoint(images: np.ndarray, image_table: pd.DataFrame, parameters: dict) -> None:
    """Raise :class:`~irl_inr.training.CheckpointError` now if :func:`train_irl_inr` would
    meet a checkpoint that it cannot resume (the data checks run this before anything is
    written)."""
    options = TrainingParameters.from_dict(parameters)
    model, data, optimisation, path = irl_inr_run(images, image_table, options)
    check_resumable(path, optimisation.fingerprint_fields(), model, data)


def train_irl_inr(images: np.ndarray, image_table: pd.DataFrame, parameters: dict) -> tuple[dict, pd.DataFrame]:
    """Train IRL-INR on the selected split of the domain's images.

    Returns the model as ``{"config": {...}, "state_dict": ...}`` (config holds the named
    configuration, the model config and the optimisation settings) and the per-epoch
    history (loss terms, seconds). Checkpoints go to ``training.checkpoint_dir``, one
    file per run (:func:`irl_inr_run`)."""
    options = TrainingParameters.from_dict(parameters)
    model, data, optimisation, path = irl_inr_run(images, image_table, options)
    logger.info("Training IRL-INR (%s) on %d images; checkpoints in %s", options.config, len(data), path)
    result = fit(model, data, optimisation, checkpoint_path=path, progress=options.progress)
    irl_inr_model = {
        "config": {
            "name": options.config,
            "model": dataclasses.asdict(model.config),
            "optimisation": optimisation.to_dict(),
        },
        "state_dict": result.state_dict,
    }
    return irl_inr_model, result.history
