"""The isometry node: how far IRL-INR's decoder z -> canonical image is from a scaled
isometry, as the mean condition number of its pullback metric over the codes."""

from __future__ import annotations

import logging

import numpy as np
import torch

from irl_inr.models.isometry import mean_condition_number
from irl_inr.pipelines.interpretation.parameters import IsometryParameters
from irl_inr.saved_models import restore_irl_inr
from irl_inr.training import resolve_device

logger = logging.getLogger(__name__)


def measure_isometry(irl_inr_model: dict, semantic_codes: np.ndarray, parameters: dict) -> dict:
    """``mean_condition_number`` (and median, ``rank_deficient_codes``,
    ``isometry_codes``) of G = J^T J, J the Jacobian of the decoder z -> canonical image
    (rendered at rotation 0, shift 0 over the full image grid) at a seeded sample of the
    codes (N, d).  1 is a scaled isometry; larger is more distorted."""
    options = IsometryParameters.from_dict(parameters)
    if semantic_codes.ndim != 2:
        raise ValueError(f"semantic_codes must have shape (N, d), got {semantic_codes.shape}")
    if not np.isfinite(semantic_codes).all():
        raise ValueError(f"semantic_codes hold {int((~np.isfinite(semantic_codes)).sum())} NaN or infinite values")
    model = restore_irl_inr(irl_inr_model)
    if semantic_codes.shape[1] != model.config.latent_dim:
        raise ValueError(
            f"semantic_codes have {semantic_codes.shape[1]} dimensions but the model's latent_dim is "
            f"{model.config.latent_dim}"
        )
    count = min(options.sample_size, len(semantic_codes))
    rows = np.sort(np.random.default_rng(options.seed).choice(len(semantic_codes), count, replace=False))
    device = resolve_device(options.device)
    model = model.to(device)
    codes = torch.from_numpy(np.ascontiguousarray(semantic_codes[rows], dtype=np.float32)).to(device)
    result = mean_condition_number(model.decode_canonical, codes, options.batch_size)
    if result["rank_deficient_codes"]:
        logger.warning(
            "isometry: the decoder's Jacobian is rank deficient at %d of %d codes; they are left out of the mean",
            result["rank_deficient_codes"], count,
        )
    return {**result, "isometry_codes": count}
