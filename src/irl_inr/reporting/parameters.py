"""The ``reporting`` parameter section. Self-contained (it needs only the base class) so
that it can move to ``irl_inr/parameters.py`` as is, with ``"reporting":
ReportingParameters.from_dict`` among the shared validators."""

from __future__ import annotations

import dataclasses
import math
import re

from matplotlib.colors import is_color_like

from irl_inr.parameters import Parameters, is_number

MAP_METHODS = ("tsne", "pca")


@dataclasses.dataclass(frozen=True)
class ReportingParameters(Parameters):
    """``reporting``: the domain's name (prefix of its metric keys, title of its report)
    and what the HTML report shows.

    ``map_method``: how the semantic codes z are laid out in 2-D (``tsne``: scikit-learn's
    t-SNE on unit-length codes, seeded; ``pca``: the first two principal components), on
    at most ``map_sample_size`` images drawn with ``seed``.

    The captions' readings: a cluster whose largest class holds less than
    ``purity_warning_below`` of it is flagged as mixed; training still runs when the
    total loss fell by more than ``loss_plateau_share`` of its first value over the last
    quarter of the epochs; the interpretation's class traversals look the same when the
    images decoded at the class means differ by less than ``traversal_distinct_ratio``
    times as much as real images of different classes decoded.

    ``image_colours``: how images are drawn, grey (null) or colours at levels
    (``[[0.0, "#eeeeee"], [0.25, "#5a9e6f"], [1.0, "#c0392b"]]``: a wafer map's no die,
    good die and defective die); ``gallery_inputs``: the cluster gallery shows every member
    as its input image beside its canonical image, not the canonical image alone."""

    section = "reporting"
    domain: str
    samples_per_class: int = 8
    histogram_bins: int = 36
    reconstruction_count: int = 10
    map_method: str = "tsne"
    map_sample_size: int = 1000
    map_perplexity: float = 30.0
    exemplars: int = 6
    seed: int = 0
    figure_width_inches: float = 10.0
    figure_dpi: int = 80
    purity_warning_below: float = 0.5
    loss_plateau_share: float = 0.02
    traversal_distinct_ratio: float = 0.5
    image_colours: list | None = None
    gallery_inputs: bool = False

    def check(self) -> None:
        if not isinstance(self.domain, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", self.domain):
            self.fail("domain", "must be a lower-case name such as mnist_u (letters, digits, underscores)")
        for name, minimum in (
            ("samples_per_class", 1), ("histogram_bins", 1), ("reconstruction_count", 1), ("map_sample_size", 4),
            ("exemplars", 0), ("seed", 0), ("figure_dpi", 20),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail(name, "must be an integer")
            if value < minimum:
                self.fail(name, f"must be at least {minimum}")
        if self.map_method not in MAP_METHODS:
            self.fail("map_method", f"must be one of {list(MAP_METHODS)}")
        for name in ("purity_warning_below", "loss_plateau_share", "traversal_distinct_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                self.fail(name, "must be a number in [0, 1]")
        self.check_bool("gallery_inputs")
        if self.image_colours is not None:
            self._check_colours()
        for name, minimum in (("map_perplexity", 1.0), ("figure_width_inches", 4.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                self.fail(name, "must be a finite number")
            if value < minimum:
                self.fail(name, f"must be at least {minimum}")

    def _check_colours(self) -> None:
        anchors = self.image_colours
        pairs = isinstance(anchors, list) and len(anchors) >= 2 and all(
            isinstance(pair, list | tuple) and len(pair) == 2 and is_number(pair[0]) and is_color_like(pair[1])
            for pair in anchors
        )
        if not pairs:
            self.fail("image_colours", "must be null or a list of at least two [level, colour] pairs")
        levels = [pair[0] for pair in anchors]
        if levels[0] != 0 or levels[-1] != 1 or any(low >= high for low, high in zip(levels, levels[1:])):
            self.fail("image_colours", "levels must rise from 0 to 1")
