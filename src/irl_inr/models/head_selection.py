"""Which of SCAN's heads to keep, from what the heads themselves say (never labels).

SCAN trains several heads side by side and keeps one. Two rules:

* ``loss``: the head with the lowest SCAN loss on all images (the paper's rule);
* ``agreement``: the head whose clusters agree best, on average, with every other
  head's (the *medoid* of the heads under the adjusted Rand index). A head that fell into
  its own local optimum agrees with few others and is passed over; the kept answer is
  the partition the heads hold in common, so it moves less from one seed to the next.

Measured over five clustering seeds on the same frozen codes (SCAN ACC, min-max): on the
wafer codes, whose heads disagree (mean ARI 0.6), the head kept by loss gave 0.43-0.49
whether 10, 30 or 100 heads were trained, the most agreeing of 30 heads 0.48-0.50; on the
digits and on cryo-EM, whose heads agree (ARI 0.9 and above), either rule stays within
0.006 over the seeds with 10 heads (digits 0.910-0.916 by loss, 0.911-0.916 by agreement).
"""

from __future__ import annotations

import numpy as np
import torch

# The rules of :func:`kept_head`.
KEEP_RULES = ("agreement", "loss")


def mean_agreement(agreement: np.ndarray) -> np.ndarray:
    """(H,): every head's mean ARI with the other heads, from their
    :func:`~irl_inr.metrics.clustering.pairwise_rand_index` (H, H) (one head: 1)."""
    count = len(agreement)
    if count == 1:
        return np.ones(1)
    return (agreement.sum(axis=1) - 1) / (count - 1)


def kept_head(rule: str, losses: torch.Tensor, agreement: np.ndarray) -> int:
    """The head that ``rule`` keeps (see :data:`KEEP_RULES`): ``losses`` (H,) every head's
    SCAN loss, ``agreement`` (H, H) the ARI between every two heads' clusters
    (:func:`~irl_inr.metrics.clustering.pairwise_rand_index`). Heads that agree equally well
    (two heads always do) are told apart by their loss."""
    if rule not in KEEP_RULES:
        raise ValueError(f"rule must be one of {list(KEEP_RULES)}, got {rule!r}")
    if losses.dim() != 1 or np.shape(agreement) != (len(losses), len(losses)):
        raise ValueError(
            f"losses (H,) and agreement (H, H) must describe the same heads, got {tuple(losses.shape)} and "
            f"{np.shape(agreement)}"
        )
    losses = losses.detach().cpu().numpy()
    if rule == "loss":
        return int(np.argmin(losses))
    return int(np.lexsort((losses, -mean_agreement(agreement)))[0])  # most agreeing; ties: the lowest loss
