"""An invertible interpretation network (IIN; Esser, Rombach and Ommer, CVPR 2020) over
frozen semantic codes.

A normalising flow f maps a code z (d,) to u = f(z) (d,), split into factors, so that z is
explained by independent, nameable factors and every change of u decodes back exactly
through f^-1.  The flow is a stack of blocks, each

    actnorm (data-dependent init) -> affine coupling -> fixed seeded permutation,

with log|det df/dz| summed over blocks.  The coupling keeps the first half x_a and maps
the second, x_b * exp(s(x_a)) + t(x_a), with s bounded by ``scale_bound * tanh`` and the
last layer of s, t starting at zero (each block starts as the identity).

Priors on u:
* unsupervised (``num_classes`` None): u ~ N(0, I); the NLL is -log p(z);
* supervised (IIN's disentangling version): the first ``class_dims`` coordinates of u are
  the class factor, N(mu_y, I) with learned per-class means mu_y, the rest the residual
  factor, N(0, I); the NLL is -log p(z | y).  The class factor alone predicts y by the
  nearest class mean.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_TWO_PI = math.log(2 * math.pi)


class ActNorm(nn.Module):
    """y = (x + loc) * exp(log_scale) per coordinate; the first forward pass in training
    mode sets loc and log_scale so that its batch comes out with zero mean, unit variance."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialised", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not self.initialised:
            with torch.no_grad():
                self.loc.copy_(-x.mean(dim=0))
                self.log_scale.copy_(-torch.log(x.std(dim=0) + 1e-6))
                self.initialised.fill_(True)
        log_det = self.log_scale.sum().expand(x.shape[0])  # (B,)
        return (x + self.loc) * torch.exp(self.log_scale), log_det

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.loc


class AffineCoupling(nn.Module):
    """x = [x_a, x_b] -> [x_a, x_b * exp(s(x_a)) + t(x_a)], s bounded by ``scale_bound``."""

    def __init__(self, dim: int, hidden: int, scale_bound: float) -> None:
        super().__init__()
        self.kept = dim // 2
        changed = dim - self.kept
        self.scale_bound = scale_bound
        self.net = nn.Sequential(
            nn.Linear(self.kept, hidden), nn.LeakyReLU(0.1),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.1),
            nn.Linear(hidden, 2 * changed),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw_scale, shift = self.net(kept).chunk(2, dim=1)
        return self.scale_bound * torch.tanh(raw_scale / self.scale_bound), shift

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kept, changed = x[:, : self.kept], x[:, self.kept :]
        log_scale, shift = self._scale_shift(kept)
        return torch.cat([kept, changed * torch.exp(log_scale) + shift], dim=1), log_scale.sum(dim=1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        kept, changed = y[:, : self.kept], y[:, self.kept :]
        log_scale, shift = self._scale_shift(kept)
        return torch.cat([kept, (changed - shift) * torch.exp(-log_scale)], dim=1)


class InvertibleInterpretationNetwork(nn.Module):
    """z (B, d) <-> u (B, d); see the module docstring.  ``training_losses`` takes rows of
    the code followed, for the supervised flow, by the label as one float column."""

    def __init__(
        self,
        dim: int,
        blocks: int = 8,
        hidden: int = 128,
        scale_bound: float = 2.0,
        permutation_seed: int = 0,
        num_classes: int | None = None,
        class_dims: int = 0,
    ) -> None:
        super().__init__()
        if dim < 2:
            raise ValueError(f"a coupling flow needs codes of at least 2 dimensions, got {dim}")
        supervised = num_classes is not None
        if supervised and not (num_classes >= 2 and 1 <= class_dims < dim):
            raise ValueError(
                f"the supervised flow needs num_classes >= 2 and 1 <= class_dims < {dim}, "
                f"got {num_classes} and {class_dims}"
            )
        self.dim, self.num_classes = dim, num_classes
        self.class_dims = class_dims if supervised else 0
        self.actnorms = nn.ModuleList(ActNorm(dim) for _ in range(blocks))
        self.couplings = nn.ModuleList(AffineCoupling(dim, hidden, scale_bound) for _ in range(blocks))
        generator = torch.Generator().manual_seed(permutation_seed)
        permutations = torch.stack([torch.randperm(dim, generator=generator) for _ in range(blocks)])
        self.register_buffer("permutations", permutations)  # (blocks, d)
        self.register_buffer("inverse_permutations", permutations.argsort(dim=1))
        # Class means start apart (N(0, I), from torch's global generator like the layers'
        # weights): from one shared start, the classes would stay tied for many steps.
        self.class_means = nn.Parameter(torch.randn(num_classes, self.class_dims)) if supervised else None

    @property
    def supervised(self) -> bool:
        return self.num_classes is not None

    def forward(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, d) -> u (B, d) and log|det du/dz| (B,)."""
        log_det = code.new_zeros(code.shape[0])
        x = code
        for actnorm, coupling, permutation in zip(self.actnorms, self.couplings, self.permutations):
            x, block_log_det = actnorm(x)
            log_det = log_det + block_log_det
            x, block_log_det = coupling(x)
            log_det = log_det + block_log_det
            x = x[:, permutation]
        return x, log_det

    def inverse(self, factors: torch.Tensor) -> torch.Tensor:
        """u (B, d) -> z (B, d), exactly f^-1."""
        x = factors
        blocks = list(zip(self.actnorms, self.couplings, self.inverse_permutations))
        for actnorm, coupling, inverse_permutation in reversed(blocks):
            x = actnorm.inverse(coupling.inverse(x[:, inverse_permutation]))
        return x

    def prior_means(self, labels: torch.Tensor | None) -> torch.Tensor:
        """The mean of u under the prior: (B, d); zero off the class factor."""
        if not self.supervised:
            raise ValueError("the unsupervised flow has a zero-mean prior and takes no labels")
        means = torch.zeros(labels.shape[0], self.dim, device=labels.device)
        means[:, : self.class_dims] = self.class_means[labels]
        return means

    def negative_log_likelihood(self, code: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """-log p(z) (unsupervised) or -log p(z | y) (supervised), per code, in nats: (B,)."""
        factors, log_det = self(code)
        if self.supervised:
            if labels is None:
                raise ValueError("the supervised flow needs the labels of the codes")
            factors = factors - self.prior_means(labels)
        log_prior = -0.5 * (factors.pow(2).sum(dim=1) + self.dim * LOG_TWO_PI)
        return -(log_prior + log_det)

    def predict_class(self, code: torch.Tensor) -> torch.Tensor:
        """The label whose mean is nearest to the class factor of u: (B,) int64."""
        if not self.supervised:
            raise ValueError("only the supervised flow has a class factor")
        class_factor = self(code)[0][:, : self.class_dims]
        return torch.cdist(class_factor, self.class_means).argmin(dim=1)

    def training_losses(self, batch: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Mean NLL per dimension (nats) of a batch (B, d) or, supervised, (B, d + 1) with
        the label as the last column.  Draws nothing from ``generator``."""
        if self.supervised:
            code, labels = batch[:, : self.dim], batch[:, self.dim].long()
        else:
            code, labels = batch, None
        nll = self.negative_log_likelihood(code, labels).mean() / self.dim
        return {"nll": nll, "total": nll}
