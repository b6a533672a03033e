"""The ``predict`` section: how a trained model is applied to new images."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from irl_inr.parameters import Parameters, is_int

HEADS = ("selflabel", "scan")


@dataclasses.dataclass(frozen=True)
class PredictParameters(Parameters):
    """``head``: the clustering model whose clusters are predicted (and whose clusters'
    mean codes the novelty score measures from); ``novelty_quantile``: the share of the
    calibration images (those the clustering stage assigned) whose novelty score stays at
    or below the threshold, so about ``1 - novelty_quantile`` of images like them are
    flagged novel by chance; ``canonical_images``: whether each new image's canonical
    image is rendered with the INR (false: codes, clusters and poses only, and
    ``new_canonical_images`` holds no images)."""

    section = "predict"
    head: str = "selflabel"
    novelty_quantile: float = 0.99
    batch_size: int = 256
    device: str = "auto"
    num_threads: int | None = 1
    canonical_images: bool = True

    def check(self) -> None:
        if self.head not in HEADS:
            self.fail("head", f"must be one of {HEADS}")
        quantile = self.novelty_quantile
        if isinstance(quantile, bool) or not isinstance(quantile, int | float) or not math.isfinite(quantile):
            self.fail("novelty_quantile", "must be a number in (0, 1]")
        if not 0 < quantile <= 1:
            self.fail("novelty_quantile", "must be in (0, 1]")
        if not is_int(self.batch_size) or self.batch_size < 1:
            self.fail("batch_size", "must be a positive integer")
        if not isinstance(self.device, str) or not self.device:
            self.fail("device", "must be 'auto', 'cpu', 'cuda' or 'cuda:<index>'")
        threads = self.num_threads
        if threads is not None and (not is_int(threads) or threads < 1):
            self.fail("num_threads", "must be a positive integer or null for the libraries' defaults")


VALIDATORS: dict[str, Callable[[Any], Any]] = {"predict": PredictParameters.from_dict}
