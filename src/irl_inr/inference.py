"""Trained models applied to many images: images as the models' input tensor, codes
checked, a faster inference copy of IRL-INR, and encoding, rendering and cluster
probabilities in batches (no gradients)."""

from __future__ import annotations

from copy import deepcopy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from irl_inr.models.fusion import fold_batch_norms, pack_convolutions
from irl_inr.models.irl_inr import IRLINR


def images_as_tensor(images: np.ndarray) -> torch.Tensor:
    """A domain's image array in [0, 1], (N, H, W) for one channel or (N, C, H, W) for C,
    -> float32 tensor (N, C, H, W) (C = 1 for the first); rejects NaNs and other shapes."""
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W) or (N, C, H, W), got {images.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    if images.ndim == 3:
        tensor = tensor.unsqueeze(1)
    if not torch.isfinite(tensor).all():
        raise ValueError(f"images hold {int((~torch.isfinite(tensor)).sum())} NaN or infinite pixels")
    return tensor


def images_as_array(tensor: torch.Tensor) -> np.ndarray:
    """Images (N, C, H, W) -> an array in the domains' layout: (N, H, W) for one channel,
    (N, C, H, W) for more (the inverse of :func:`images_as_tensor`)."""
    return (tensor.squeeze(1) if tensor.shape[1] == 1 else tensor).numpy()


def image_shape(channels: int, size: int) -> tuple[int, ...]:
    """The shape of one image in the domains' layout: (S, S) for one channel, (C, S, S) for C."""
    return (size, size) if channels == 1 else (channels, size, size)


def finite_codes(codes: np.ndarray, name: str) -> np.ndarray:
    """Semantic codes (N, d), every row finite; errors name ``name`` and the first bad row."""
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"{name} must have shape (N, d), got {codes.shape}")
    bad = ~np.isfinite(codes).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} holds NaN or infinite values in {int(bad.sum())} of {len(codes)} rows (first: row "
            f"{int(np.flatnonzero(bad)[0])}): the IRL-INR model diverged; retrain it and rerun extract_embeddings"
        )
    return codes


def inference_copy(
    model: IRLINR, fold: bool = True, channels_last: bool = True, pack: bool = True, batch_size: int = 256
) -> IRLINR:
    """A copy of ``model`` for inference only (the original is left as it is): eval mode,
    with ``fold`` the encoder's batch norms folded into the convolutions before them
    (``irl_inr.models.fusion.fold_batch_norms``), with ``channels_last`` its convolutions
    in channels-last memory format (faster in oneDNN and cuDNN), and with ``pack`` (needs
    ``fold``; on a CPU with oneDNN only, elsewhere ignored) its convolutions as oneDNN's
    fused ones with weights packed once for batches of ``batch_size`` and ReLUs and
    residual adds as post-ops (``irl_inr.models.fusion.pack_convolutions``; about 1.2x
    faster again for ``paper``).  Its codes and poses are the eval model's up to float
    rounding (about 1e-6 relative), not bit for bit."""
    if pack and not fold:
        raise ValueError("pack needs fold: packed convolutions have no batch norms")
    copy = fold_batch_norms(model) if fold else deepcopy(model).eval()
    if channels_last:
        copy.encoder.backbone.to(memory_format=torch.channels_last)
        copy.encoder.memory_format = torch.channels_last
    if pack and on_cpu_with_onednn(copy):
        size = copy.config.image_size
        pack_convolutions(copy.encoder.backbone, (copy.config.channels, size, size), batch_size)
    return copy


def on_cpu_with_onednn(model: nn.Module) -> bool:
    """Whether ``model``'s parameters are float32 CPU tensors and oneDNN is available with
    the fused-convolution operators: what :func:`~irl_inr.models.fusion.pack_convolutions`
    runs on (those operators are torch-internal, so another torch build may lack them)."""
    operators = ("_convolution_pointwise", "_reorder_convolution_weight")
    available = torch.backends.mkldnn.is_available() and all(hasattr(torch.ops.mkldnn, op) for op in operators)
    return available and all(
        parameter.device.type == "cpu" and parameter.dtype == torch.float32 for parameter in model.parameters()
    )


@torch.inference_mode()
def encode_in_batches(model: IRLINR, images: torch.Tensor, batch_size: int, device: torch.device):
    """-> semantic codes (N, d), rotations (N,), translations (N, 2), all on the CPU.

    Runs under ``torch.inference_mode`` (no autograd bookkeeping; the same values as under
    ``torch.no_grad``); the outputs are inference tensors, fine for reading and for new
    tensors computed from them, not for changing in place outside inference mode."""
    codes, rotations, translations = [], [], []
    for start in range(0, len(images), batch_size):
        encoded = model.encode(images[start : start + batch_size].to(device))
        codes.append(encoded.semantic_code.float().cpu())
        rotations.append(encoded.rotation.float().cpu())
        translations.append(encoded.translation.float().cpu())
    return torch.cat(codes), torch.cat(rotations), torch.cat(translations)


@torch.inference_mode()
def render_in_batches(model: IRLINR, codes, rotations, translations, size: int, batch_size: int, device) -> np.ndarray:
    """Render images of the codes under the given poses, in the domains' layout: (N, size,
    size) for one channel, (N, C, size, size) for C."""
    pieces = []
    for start in range(0, len(codes), batch_size):
        stop = start + batch_size
        rendered = model.render(
            codes[start:stop].to(device), rotations[start:stop].to(device), translations[start:stop].to(device), size, size
        )
        pieces.append(rendered.float().cpu())
    return images_as_array(torch.cat(pieces))


@torch.no_grad()
def cluster_probabilities(
    encoder: nn.Module, head: nn.Module, data: torch.Tensor, batch_size: int, device, normalise: bool
) -> np.ndarray:
    """Cluster probabilities (N, K) of images under encoder + head (eval mode, no
    augmentation), from the codes as the trained model reads them (``Encoder.encode``),
    scaled to unit length first when ``normalise``."""
    encoder, head = encoder.to(device).eval(), head.to(device).eval()
    chunks = []
    for start in range(0, len(data), batch_size):
        codes = encoder.encode(data[start : start + batch_size].to(device)).semantic_code.float()
        if not torch.isfinite(codes).all():
            raise ValueError(f"the encoder gives NaN or infinite codes for images {start}..{start + len(codes) - 1}")
        if normalise:
            codes = F.normalize(codes, dim=1)
        chunks.append(torch.softmax(head(codes).float(), dim=-1).cpu())
    return torch.cat(chunks).numpy()
