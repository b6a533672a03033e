"""How far a decoder z -> image is from a scaled isometry (IRVAE, Lee et al., ICLR 2022).

The decoder f: R^d -> R^D pulls the image space's metric back to G(z) = J(z)^T J(z)
(d x d), J the Jacobian of f at z.  f is a scaled isometry when G = c^2 I everywhere.

* ``relaxed_distortion``: the training term.  Codes are mixed in pairs with
  eta-extrapolation, z = t z_i + (1 - t) z_j, t ~ U[-eta, 1 + eta], and with one Gaussian
  v per code, Tr G ~ E|Jv|^2 (one Jacobian-vector product) and Tr G^2 ~ E|J^T J v|^2 (one
  vector-Jacobian product of Jv).  The loss is ``d E[Tr G^2] / E[Tr G]^2 - 1``: the
  paper's ratio E[Tr G^2] / E[Tr G]^2 times d, minus 1, so that it is 0 for a scaled
  isometry (the ratio is 1/d there) and positive otherwise; the gradient is the paper's
  times d.
* ``condition_numbers``: the exact G of each code (``torch.func.jacfwd``) and its
  condition number lambda_max / lambda_min, computed as (s_max / s_min)^2 from the
  singular values of J in float64 (the eigenvalues of G without squaring J first).  A code
  whose J has s_min <= ``RANK_TOLERANCE`` * s_max is rank deficient: its condition number
  is infinite and it is counted, not averaged (see ``mean_condition_number``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Decoder = Callable[[torch.Tensor], torch.Tensor]  # z (B, d) -> flattened images (B, D)

RANK_TOLERANCE = 1e-6  # s_min / s_max below this: G is numerically singular


def relaxed_distortion(
    decoder: Decoder, semantic_code: torch.Tensor, generator: torch.Generator, eta: float = 0.2
) -> torch.Tensor:
    """``d E[Tr G^2] / E[Tr G]^2 - 1`` over mixed codes of the batch z (B, d): a scalar,
    ~0 for a scaled isometry (up to the sampling of v), differentiable in the decoder's
    parameters and in z.  Random draws (pairing, t, v) come from ``generator`` and are
    moved to z's device; the estimate runs in float32 with autocast off."""
    batch, dim = semantic_code.shape
    draw = dict(generator=generator, device=generator.device)
    partner = torch.randperm(batch, **draw).to(semantic_code.device)
    mixing = (torch.rand(batch, 1, **draw) * (1 + 2 * eta) - eta).to(semantic_code.device)  # (B, 1)
    direction = torch.randn(batch, dim, **draw).to(semantic_code.device)  # v (B, d)
    with torch.autocast(device_type=semantic_code.device.type, enabled=False):
        code = semantic_code.float()
        mixed = mixing * code + (1 - mixing) * code[partner]  # (B, d)
        _, jacobian_v = torch.func.jvp(decoder, (mixed,), (direction,))  # Jv (B, D)
        _, pullback = torch.func.vjp(decoder, mixed)
        (metric_v,) = pullback(jacobian_v)  # J^T J v = G v (B, d)
        trace = jacobian_v.float().pow(2).sum(dim=1).mean()  # E[Tr G]
        trace_of_square = metric_v.float().pow(2).sum(dim=1).mean()  # E[Tr G^2]
        return dim * trace_of_square / trace**2 - 1


def condition_numbers(decoder: Decoder, semantic_code: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """lambda_max / lambda_min of the exact pullback metric G = J^T J at each code z (N, d)
    -> (N,) float64; ``inf`` where J is rank deficient (see ``RANK_TOLERANCE``).
    ``decoder`` must treat the codes of a batch independently (no batch statistics)."""

    def decode_one(code: torch.Tensor) -> torch.Tensor:  # (d,) -> (D,)
        return decoder(code.unsqueeze(0)).squeeze(0)

    jacobian_of = torch.func.vmap(torch.func.jacfwd(decode_one))
    pieces = []
    with torch.no_grad(), torch.autocast(device_type=semantic_code.device.type, enabled=False):
        for chunk in semantic_code.float().split(batch_size):
            jacobian = jacobian_of(chunk).double()  # (b, D, d)
            singular = torch.linalg.svdvals(jacobian)  # (b, d), descending
            largest, smallest = singular[:, 0], singular[:, -1]
            ratio = (largest / smallest).pow(2)
            ratio[smallest <= RANK_TOLERANCE * largest] = float("inf")
            pieces.append(ratio.cpu())
    return torch.cat(pieces)


def mean_condition_number(decoder: Decoder, semantic_code: torch.Tensor, batch_size: int = 16) -> dict[str, float]:
    """``mean_condition_number`` of G over the full-rank codes (1 for a scaled isometry,
    larger is more distorted), ``median_condition_number``, and ``rank_deficient_codes``
    (how many codes were left out because G is numerically singular)."""
    numbers = condition_numbers(decoder, semantic_code, batch_size)
    finite = numbers[torch.isfinite(numbers)]
    if len(finite) == 0:
        raise ValueError(f"the decoder's Jacobian is rank deficient at all {len(numbers)} codes")
    return {
        "mean_condition_number": float(finite.mean()),
        "median_condition_number": float(finite.median()),
        "rank_deficient_codes": int(len(numbers) - len(finite)),
    }
