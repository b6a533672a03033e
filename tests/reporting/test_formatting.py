import math

import numpy as np
import pytest

from irl_inr.reporting.formatting import percent, round_nested, round_significant, significant


@pytest.mark.parametrize("value, text", [
    (1.9e-06, "1.90e-06"),            # never 0.0000
    (0.05551447761216488, "0.0555"),
    (0.9996, "1.00"),                 # the carry into a new digit keeps 3 figures
    (99.96, "100"),
    (12.345, "12.3"),
    (1234.5, "1234"),                 # integer digits are kept
    (-0.0123456, "-0.0123"),
    (2.5e7, "2.50e+07"),
    (0.0, "0"),
    (np.float32(0.5), "0.500"),
    (5000, "5000"),                   # integers exactly
    (np.int64(7), "7"),
    (True, "True"),
    (math.nan, "nan"),
])
def test_significant_figures(value, text):
    assert significant(value) == text


def test_previews_get_rounded_numbers_and_keep_everything_else():
    data = {"acc": 0.05551447761216488, "rows": [[1, "a", 1.9e-06]], "flag": True, "n": 5000}
    assert round_nested(data) == {"acc": 0.0555, "rows": [[1, "a", 1.9e-06]], "flag": True, "n": 5000}
    assert round_significant(123456.7) == 123000.0 and round_significant(math.inf) == math.inf


def test_percent():
    assert percent(0.2712) == "27 %" and percent(1.0) == "100 %"
