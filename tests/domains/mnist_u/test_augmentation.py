import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from irl_inr.geometry import centre_of_mass
from irl_inr.domains.mnist_u.front_end import pad_to_canvas
from irl_inr.domains.mnist_u.augmentation import build_mnist_u, preview_mnist_u
from irl_inr.domains.mnist_u.ingestion import ingest_mnist


@pytest.fixture
def digits_and_table(tiny_digits):
    images, labels = tiny_digits
    return ingest_mnist({"images": images, "labels": labels, "source": "test"}, {})


def test_shapes_range_and_pose_table(digits_and_table):
    digits, table = digits_and_table
    images, poses = build_mnist_u(digits, table, {"image_size": 40, "max_shift_pixels": 3})
    assert images.shape == (30, 40, 40) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert list(poses.columns[:6]) == ["image_id", "source_index", "label", "label_name", "split", "source"]
    assert poses["rotation_radians"].between(0, 2 * math.pi).all()
    assert poses[["shift_x_pixels", "shift_y_pixels"]].abs().max().max() <= 3


def test_ground_truth_pose_explains_the_image(digits_and_table):
    """Undoing the recorded pose brings back the padded digit."""
    digits, table = digits_and_table
    images, poses = build_mnist_u(digits, table, {"image_size": 50, "max_shift_pixels": 5})
    canvas = pad_to_canvas(digits, 50)
    moved_centre = centre_of_mass(torch.from_numpy(images).unsqueeze(1))
    original_centre = centre_of_mass(canvas)
    angle = torch.tensor(poses["rotation_radians"].to_numpy(), dtype=torch.float32)
    rotation = torch.stack([torch.stack([angle.cos(), -angle.sin()], -1), torch.stack([angle.sin(), angle.cos()], -1)], -2)
    expected = torch.einsum("bij,bj->bi", rotation, original_centre) + torch.from_numpy(
        poses[["shift_x_pixels", "shift_y_pixels"]].to_numpy()
    ).float() * (2 / 50)
    assert torch.allclose(moved_centre, expected, atol=2e-3)


def test_seeded_and_batch_size_does_not_change_results(digits_and_table):
    digits, table = digits_and_table
    a, pa = build_mnist_u(digits, table, {"seed": 4, "batch_size": 7})
    b, pb = build_mnist_u(digits, table, {"seed": 4, "batch_size": 1024})
    c, _ = build_mnist_u(digits, table, {"seed": 5})
    assert np.array_equal(a, b) and pa.equals(pb)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"image_size": 20}, r"augmentation.image_size = 20: must be at least 28"),
        ({"max_shift_pixels": -1}, r"augmentation.max_shift_pixels = -1: must be non-negative"),
        ({"max_rotation_degrees": 400}, r"augmentation.max_rotation_degrees"),
    ],
)
def test_bad_parameters_are_named(digits_and_table, parameters, message):
    with pytest.raises(ValueError, match=message):
        build_mnist_u(*digits_and_table, parameters)


def test_preview_is_a_figure(digits_and_table):
    digits, table = digits_and_table
    images, poses = build_mnist_u(digits, table, {})
    figure = preview_mnist_u(digits, images, poses, {"preview_count": 4})
    assert isinstance(figure, Figure) and len(figure.axes) == 8
