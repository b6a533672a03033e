"""Images as the models' input, and codes checked."""

import numpy as np
import pytest

from irl_inr.inference import finite_codes, images_as_tensor


def test_images_with_nan_are_refused():
    images = np.zeros((2, 4, 4), np.float32)
    images[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite pixels"):
        images_as_tensor(images)


def test_images_become_one_channel_float32():
    tensor = images_as_tensor(np.ones((3, 4, 5), np.float64))
    assert tuple(tensor.shape) == (3, 1, 4, 5) and str(tensor.dtype) == "torch.float32"


def test_codes_with_a_non_finite_row_name_it():
    codes = np.zeros((4, 2))
    codes[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"semantic_codes holds NaN or infinite values in 1 of 4 rows \(first: row 2\)"):
        finite_codes(codes, "semantic_codes")
    with pytest.raises(ValueError, match="must have shape"):
        finite_codes(np.zeros(3), "semantic_codes")
