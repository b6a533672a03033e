import math

import pytest
import torch

from irl_inr.geometry import (
    canonical_coordinates,
    centre_of_mass,
    pixel_grid,
    pixels_to_normalised,
    random_poses,
    transform_images,
)


def blob(size=50, centre=(0.0, 0.0), width=0.12):
    grid = pixel_grid(size)
    distance = ((grid - torch.tensor(centre)) ** 2).sum(-1)
    return torch.exp(-distance / (2 * width**2)).reshape(1, 1, size, size)


def asymmetric(size=50):
    return blob(size, (0.2, -0.1)) + 0.5 * blob(size, (-0.25, 0.3), 0.08)


def test_pixel_grid_centres_and_order():
    grid = pixel_grid(4)
    assert grid.shape == (16, 2)
    assert torch.allclose(grid[0], torch.tensor([-0.75, -0.75]))
    assert torch.allclose(grid[1], torch.tensor([-0.25, -0.75]))  # x varies fastest
    assert torch.allclose(grid[-1], torch.tensor([0.75, 0.75]))


def test_rotate_then_unrotate_returns_the_image():
    images = torch.cat([asymmetric(), blob(50, (0.1, 0.1))])
    angle = torch.tensor([0.7, -2.1])
    there = transform_images(images, angle)
    back = transform_images(there, -angle)
    error = (back - images).abs()
    assert error.max() < 0.06 and error.mean() < 0.002  # bilinear interpolation, twice
    assert (there - images).abs().max() > 0.3  # it did move


def test_four_quarter_turns_are_exact_identity_with_nearest_sampling():
    images = torch.rand(3, 2, 50, 50)
    quarter = torch.full((3,), math.pi / 2)
    turned = images
    for _ in range(4):
        turned = transform_images(turned, quarter, mode="nearest")
    assert torch.equal(turned, images)


def test_quarter_turn_matches_rot90_up_to_float_rounding():
    images = torch.rand(2, 1, 50, 50)
    turned = transform_images(images, torch.full((2,), math.pi / 2))
    # +90° is clockwise on screen (y points down): rot90 with k=-1
    assert (turned - torch.rot90(images, k=-1, dims=(2, 3))).abs().max() < 1e-4


def test_shift_moves_centre_of_mass_by_the_shift():
    image = asymmetric()
    shift_pixels = torch.tensor([[3.0, -2.0]])
    moved = transform_images(image, torch.zeros(1), pixels_to_normalised(shift_pixels, 50))
    difference = (centre_of_mass(moved) - centre_of_mass(image)) * 25  # normalised -> pixels
    assert torch.allclose(difference, shift_pixels, atol=0.02)


def test_rotation_turns_centre_of_mass_about_the_image_centre():
    image = blob(50, (0.3, 0.0))
    rotated = transform_images(image, torch.tensor([math.pi / 2]))
    assert torch.allclose(centre_of_mass(rotated), torch.tensor([[0.0, 0.3]]), atol=1e-3)


def test_canonical_coordinates_invert_the_pose():
    points = torch.tensor([[0.3, 0.1]])
    rotation, translation = torch.tensor([0.4]), torch.tensor([[0.1, -0.2]])
    canonical = canonical_coordinates(points, rotation, translation)[0]
    c, s = math.cos(0.4), math.sin(0.4)
    forward = torch.tensor([[c, -s], [s, c]]) @ canonical[0] + translation[0]
    assert torch.allclose(forward, points[0], atol=1e-6)


def test_per_image_poses_are_applied_per_image():
    images = asymmetric().repeat(2, 1, 1, 1)
    out = transform_images(images, torch.tensor([0.0, math.pi]), torch.zeros(2, 2))
    assert torch.allclose(out[0], images[0], atol=1e-5)
    assert torch.allclose(out[1], torch.rot90(images[1], k=2, dims=(1, 2)), atol=1e-4)


def test_random_poses_are_seeded_and_in_range():
    a = random_poses(100, 0.2, torch.Generator().manual_seed(1))
    b = random_poses(100, 0.2, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].min() >= 0 and a[0].max() < 2 * math.pi
    assert a[1].abs().max() <= 0.2


def test_bad_shapes_name_the_argument():
    with pytest.raises(ValueError, match="rotation"):
        transform_images(torch.zeros(2, 1, 8, 8), torch.zeros(3))
    with pytest.raises(ValueError, match="translation"):
        transform_images(torch.zeros(2, 1, 8, 8), torch.zeros(2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="images"):
        transform_images(torch.zeros(1, 8, 8), torch.zeros(1))


def test_rotation_gradient_flows_at_zero_and_quarter_turns():
    from irl_inr.geometry import rotation_matrices

    for value in (0.0, math.pi / 2, math.pi):
        angle = torch.tensor([value], requires_grad=True)
        matrix = rotation_matrices(angle)[0]
        (matrix[0, 0] + matrix[1, 0]).backward()  # d(cos + sin)/d angle = cos - sin
        assert angle.grad.item() == pytest.approx(math.cos(value) - math.sin(value), abs=1e-6)


def test_the_centre_of_mass_of_a_colour_image_is_that_of_its_channel_mean():
    colour = torch.cat([blob(centre=(0.3, 0.0)), blob(centre=(-0.2, 0.1)), 0.5 * asymmetric()], dim=1)
    torch.testing.assert_close(centre_of_mass(colour), centre_of_mass(colour.mean(dim=1, keepdim=True)))
    assert not torch.allclose(centre_of_mass(colour), centre_of_mass(colour[:, :1]), atol=0.01)
