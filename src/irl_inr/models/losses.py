"""IRL-INR's training losses, one function each; every one returns a scalar tensor.

The paper's objective is ``reconstruction + 1 * consistency + 15 * symmetry``; the
variance and covariance terms (VICReg, Bardes et al. 2022) are the anti-collapse terms
this project adds on the semantic code.  Each is computed in float32 with autocast off,
so the losses are the same under bfloat16 autocast.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from irl_inr.geometry import centre_of_mass


def _in_float32(loss):
    """Run ``loss`` with autocast disabled, on float32 copies of its tensor arguments
    (and of the tensors of a list or tuple argument)."""

    def to_float32(argument):
        if isinstance(argument, torch.Tensor):
            return argument.float()
        if isinstance(argument, (list, tuple)):
            return type(argument)(to_float32(item) for item in argument)
        return argument

    @functools.wraps(loss)
    def wrapped(*arguments, **options) -> torch.Tensor:
        first = arguments[0][0] if isinstance(arguments[0], (list, tuple)) and arguments[0] else arguments[0]
        device_type = first.device.type if isinstance(first, torch.Tensor) else "cpu"
        with torch.autocast(device_type=device_type, enabled=False):
            return loss(*(to_float32(argument) for argument in arguments), **options)

    return wrapped


@_in_float32
def reconstruction_loss(rendered: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Mean squared error between intensities of the same shape, e.g. (B, C, H, W) images or
    (B, C, K) sampled pixels: the mean over every channel of every pixel."""
    return F.mse_loss(rendered, images)


@_in_float32
def consistency_loss(code: torch.Tensor, other_code: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cos(z1, z2) over pairs of codes of two views of the same images (B, d);
    gradients flow through both."""
    return (1 - F.cosine_similarity(code, other_code, dim=1)).mean()


@_in_float32
def contrastive_loss(
    codes: Sequence[torch.Tensor], temperature: float = 0.2, rows: slice | None = None
) -> torch.Tensor:
    """NT-Xent (SimCLR) over V >= 2 views: ``codes`` holds V tensors (B, d), row i of each
    a view of image i.  Each of the V B codes must pick each of its V - 1 other views out
    of the V B - 1 others by cosine similarity / temperature; with V > 2 the terms of its
    positives are averaged (SupCon's multi-positive loss, Khosla et al. 2020, each image
    its own class).  V = 2 is SimCLR's loss.  Unlike ``consistency_loss`` it cannot be met
    by codes that all agree.

    ``rows``: average only the terms of the codes of these images (all views), the whole
    batch still serving as negatives: a rank's share of the batch under DDP, so that the
    mean over equal shares is the mean over the batch; None: all images."""
    views, batch = len(codes), codes[0].shape[0]
    if views < 2 or any(code.shape != codes[0].shape for code in codes):
        raise ValueError(f"contrastive_loss needs 2 or more views of the same shape, got {[tuple(c.shape) for c in codes]}")
    unit = F.normalize(torch.cat(list(codes)), dim=1)  # (V B, d): the first views, then the second, ...
    images = torch.arange(batch, device=unit.device)[rows if rows is not None else slice(None)]
    anchors = torch.cat([images + view * batch for view in range(views)])  # (V R,)
    logits = unit[anchors] @ unit.T / temperature  # (V R, V B)
    itself = anchors.unsqueeze(1) == torch.arange(views * batch, device=unit.device)
    logits = logits.masked_fill(itself, float("-inf"))
    terms = [F.cross_entropy(logits, (anchors + shift * batch) % (views * batch)) for shift in range(1, views)]
    return sum(terms) / len(terms)


@_in_float32
def symmetry_breaking_loss(predicted_centre: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the predicted centre (B, 2) and the intensity-weighted
    centre of mass of the images (B, C, H, W) (of their channel mean), both normalised
    (x, y); it ties the translation to a unique point of each image."""
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
