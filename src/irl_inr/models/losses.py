"""IRL-INR's training losses, one function each; every one returns a scalar tensor.

The paper's objective is ``reconstruction + 1 * consistency + 15 * symmetry``; the
variance and covariance terms (VICReg, Bardes et al. 2022) are the anti-collapse terms
this project adds on the semantic code.  Each is computed in float32 with autocast off,
so the losses are the same under bfloat16 autocast.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from irl_inr.geometry import centre_of_mass


def _in_float32(loss):
    """Run ``loss`` with autocast disabled, on float32 copies of its tensor arguments."""

    @functools.wraps(loss)
    def wrapped(*arguments, **options) -> torch.Tensor:
        with torch.autocast(device_type=arguments[0].device.type, enabled=False):
            return loss(
                *(a.float() if isinstance(a, torch.Tensor) else a for a in arguments), **options
            )

    return wrapped


@_in_float32
def reconstruction_loss(rendered: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Pixel mean squared error between intensities of the same shape, e.g. (B, 1, H, W)
    images or (B, K) sampled pixels."""
    return F.mse_loss(rendered, images)


@_in_float32
def consistency_loss(code: torch.Tensor, other_code: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cos(z1, z2) over pairs of codes of two views of the same images (B, d);
    gradients flow through both."""
    return (1 - F.cosine_similarity(code, other_code, dim=1)).mean()


@_in_float32
def contrastive_loss(
    code: torch.Tensor, other_code: torch.Tensor, temperature: float = 0.2, rows: slice | None = None
) -> torch.Tensor:
    """NT-Xent (SimCLR): each of the 2B codes must pick its other view out of the 2B - 1
    others by cosine similarity / temperature.  code, other_code (B, d), pairs by row.
    Unlike ``consistency_loss`` it cannot be met by codes that all agree.

    ``rows``: average only the terms of the codes of these pairs (both views), the whole
    batch still serving as negatives: a rank's share of the batch under DDP, so that the
    mean over equal shares is the mean over the batch; None: all pairs."""
    batch = code.shape[0]
    unit = F.normalize(torch.cat([code, other_code]), dim=1)  # (2B, d)
    pairs = torch.arange(batch, device=code.device)[rows if rows is not None else slice(None)]
    anchors = torch.cat([pairs, pairs + batch])  # (2R,): rows R of the first views, then of the second
    logits = unit[anchors] @ unit.T / temperature  # (2R, 2B)
    itself = anchors.unsqueeze(1) == torch.arange(2 * batch, device=code.device)
    logits = logits.masked_fill(itself, float("-inf"))
    other_view = (anchors + batch) % (2 * batch)  # i <-> i + B
    return F.cross_entropy(logits, other_view)


@_in_float32
def symmetry_breaking_loss(predicted_centre: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the predicted centre (B, 2) and the intensity-weighted
    centre of mass of the images (B, C, H, W), both normalised (x, y); it ties the
    translation to a unique point of each image."""
    return F.mse_loss(predicted_centre, centre_of_mass(images))


@_in_float32
def variance_loss(code: torch.Tensor, target_std: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """Hinge on the standard deviation of every code dimension over the batch (B, d):
    zero once each is at least ``target_std``, so codes cannot shrink to one point."""
    std = torch.sqrt(code.var(dim=0) + eps)  # (d,)
    return torch.relu(target_std - std).mean()


@_in_float32
def covariance_loss(code: torch.Tensor) -> torch.Tensor:
    """Mean squared off-diagonal covariance of the code over the batch (B, d), divided by d:
    zero when the dimensions are decorrelated, so they cannot all carry the same signal."""
    batch, dim = code.shape
    centred = code - code.mean(dim=0)
    covariance = centred.T @ centred / (batch - 1)  # (d, d)
    off_diagonal = covariance - torch.diag(torch.diagonal(covariance))
    return off_diagonal.pow(2).sum() / dim
