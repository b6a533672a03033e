"""Numbers as a reader should see them: a fixed number of significant figures, so that
1.9e-06 never prints as ``0.0000`` and 0.05551447761216488 never prints in full.

Used by the HTML report (tables and captions) and by the kedro-viz previews of tables and
JSON files (:mod:`irl_inr.reporting.previews`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

SIGNIFICANT_DIGITS = 3


def significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``value`` with ``digits`` significant figures: 0.0555, 1.9e-06, 0.97, 12.3; a
    number with more integer digits than that keeps them all (1235, not 1.24e+03), and
    a very large one goes to scientific notation. Integers print exactly."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e6:
        if magnitude >= 10 ** (digits - 1):
            return f"{value:.0f}"
        decimals = digits - 1 - math.floor(math.log10(magnitude))
        text = f"{value:.{decimals}f}"
        # Rounding may carry into a new digit (0.9996 -> 1.000): drop the extra decimal.
        if len(text.lstrip("-").replace(".", "").lstrip("0")) > digits and "." in text:
            text = text[:-1].rstrip(".")
        return text
    return f"{value:.{digits - 1}e}"


def round_significant(value, digits: int = SIGNIFICANT_DIGITS):
    """A float rounded to ``digits`` significant figures (other values as they are), for
    previews that hand numbers, not text, to their viewer."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, float | np.floating):
        return value
    value = float(value)
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def round_nested(data, digits: int = SIGNIFICANT_DIGITS):
    """Every float inside nested dicts and lists rounded by :func:`round_significant`."""
    if isinstance(data, Mapping):
        return {key: round_nested(value, digits) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [round_nested(value, digits) for value in data]
    return round_significant(data, digits)


def percent(share: float) -> str:
    """A share in [0, 1] as a whole percentage: ``0.271`` -> ``27 %``."""
    return f"{round(100 * float(share)):d} %"
