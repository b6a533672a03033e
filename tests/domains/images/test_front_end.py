"""The geometry (padded squares, centre crop or pad, area averaging), the channels, the
intensities and the mask, each channel of a colour image alike, chunk by chunk, and
prepare_images for new images."""

import numpy as np
import pytest

from irl_inr.domains.domain import RawImageBatch
from irl_inr.domains.images import front_end
from irl_inr.domains.images.front_end import (
    area_weights,
    circular_mask,
    contrast_images,
    in_channels,
    kept_interval,
    luminance,
    normalise,
    normalise_and_mask,
    prepare_images,
    square_geometry,
    to_square,
)
from tests.domains.images.folders import wafer_maps

FRONT_END = {"domain": "images", "image_size": 16, "crop": "centre", "circular_mask": False, "background": "keep",
             "normalise": "per_image", "min_side_pixels": 4, "cache_size": 32, "channels": 1,
             "intensity_range": [0.0, 1.0]}


def test_area_weights_average_whole_pixels_and_count_what_lies_outside_as_black():
    halving = area_weights(2, 4, 0.0, 4.0)
    np.testing.assert_allclose(halving, [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    thirds = area_weights(2, 3, 0.0, 3.0)  # each output pixel covers 1.5 source pixels
    np.testing.assert_allclose(thirds, [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]], rtol=1e-6)
    padded = area_weights(2, 2, -1.0, 3.0)  # a pixel of black on either side
    np.testing.assert_allclose(padded, [[0.5, 0], [0, 0.5]])
    np.testing.assert_allclose(area_weights(4, 2, 0.0, 2.0), [[1, 0], [1, 0], [0, 1], [0, 1]])  # upsampling


def test_to_square_pads_with_black_to_a_centred_square_and_averages_by_area():
    wide = np.ones((10, 20), np.float32)
    square = to_square(wide, 8)
    np.testing.assert_allclose(square[2:6], 1.0, rtol=1e-6)  # rows 5..15 of the 20-pixel square
    np.testing.assert_allclose(square[[0, 1, 6, 7]], 0.0, atol=1e-7)
    blocks = np.arange(64, dtype=np.float32).reshape(8, 8)
    np.testing.assert_allclose(to_square(blocks, 4), blocks.reshape(4, 2, 4, 2).mean(axis=(1, 3)), rtol=1e-6)


def test_centre_keeps_the_shorter_sides_square_and_pad_keeps_everything():
    assert kept_interval(10, 20, 8, "pad") == (0.0, 8.0)
    assert kept_interval(10, 20, 8, "centre") == (2.0, 6.0)
    assert kept_interval(20, 20, 8, "centre") == (0.0, 8.0)
    image = np.zeros((12, 36), np.float32)
    image[:, 12:24] = np.arange(144, dtype=np.float32).reshape(12, 12)  # the centre square
    geometry = square_geometry(to_square(image, 36)[None], np.array([12]), np.array([36]), 6, "centre")
    np.testing.assert_allclose(geometry[0], image[:, 12:24].reshape(6, 2, 6, 2).mean(axis=(1, 3)), rtol=1e-5)
    padded = square_geometry(to_square(image, 36)[None], np.array([12]), np.array([36]), 6, "pad")
    np.testing.assert_allclose(padded[0, :2], 0.0, atol=1e-6)  # black bars above and below
    assert padded[0, 2:4].max() > 0


@pytest.mark.parametrize(("crop", "channels"), [("centre", 1), ("pad", 1), ("centre", 3)])
def test_contrast_images_of_chosen_rows_in_chunks_matches_each_image_alone(monkeypatch, crop, channels):
    rng = np.random.default_rng(0)
    squares = rng.random((7, 3, 12, 12), dtype=np.float32)
    colour_rows = np.array([True, False, True, True, False, True, True])
    squares[~colour_rows] = squares[~colour_rows, :1]  # gray images: three equal channels
    sizes = np.array([[10, 20], [20, 10], [10, 20], [15, 15], [30, 10], [10, 20], [7, 9]])
    rows = np.array([6, 0, 2, 3, 5, 1])
    settings = {"image_size": 6, "crop": crop, "background": "border", "channels": channels}
    monkeypatch.setattr(front_end, "CHUNK_BYTES", 2 * squares[0].nbytes)  # groups of one aspect ratio span chunks
    images = contrast_images(squares, colour_rows[rows], sizes[rows, 0], sizes[rows, 1], settings, rows=rows)
    assert images.shape == ((6, 6, 6) if channels == 1 else (6, 3, 6, 6))
    for position, row in enumerate(rows):
        weights = area_weights(6, 12, *kept_interval(*sizes[row], 12, crop))
        square = squares[row] if channels == 3 else squares[row, 0]
        if channels == 1 and colour_rows[row]:
            square = luminance(squares[row][None])[0]
        alone = front_end.against_background((weights @ square @ weights.T)[None], "border")[0]
        np.testing.assert_allclose(images[position], alone, rtol=1e-5, atol=1e-7)
    everything = contrast_images(squares, colour_rows, sizes[:, 0], sizes[:, 1], settings)
    np.testing.assert_array_equal(everything[rows], images)


def test_square_geometry_and_to_square_treat_each_channel_as_a_gray_image():
    rng = np.random.default_rng(1)
    colour = rng.random((3, 10, 14), dtype=np.float32)
    square = to_square(colour, 8)
    assert square.shape == (3, 8, 8)
    for channel in range(3):
        np.testing.assert_array_equal(square[channel], to_square(colour[channel], 8))
    geometry = square_geometry(square[None], np.array([10]), np.array([14]), 4, "centre")
    assert geometry.shape == (1, 3, 4, 4)
    for channel in range(3):
        np.testing.assert_array_equal(
            geometry[0, channel], square_geometry(square[None, channel], np.array([10]), np.array([14]), 4, "centre")[0]
        )


def test_in_channels_copies_gray_to_three_channels_or_takes_the_luminance_of_colour():
    gray = np.arange(2 * 4, dtype=np.float32).reshape(2, 2, 2) / 8
    np.testing.assert_array_equal(in_channels(gray, np.zeros(2, bool), 1), gray)
    np.testing.assert_array_equal(in_channels(gray, np.zeros(2, bool), 3), np.stack([gray] * 3, axis=1))
    colour = np.stack([np.stack([gray[0]] * 3), np.stack([gray[1], gray[1] * 0, gray[1] * 0])])  # gray, then red
    as_gray = in_channels(colour, np.array([False, True]), 1)
    np.testing.assert_array_equal(as_gray[0], gray[0])  # a gray image kept exactly
    np.testing.assert_allclose(as_gray[1], 0.299 * gray[1], rtol=1e-6)
    assert in_channels(colour, np.array([False, True]), 3) is colour


def test_normalise_per_image_per_set_and_an_image_of_one_value():
    images = np.stack([np.full((2, 2), 3.0), np.array([[1.0, 2.0], [3.0, 5.0]])]).astype(np.float32)
    per_image = normalise(images, "per_image", [0.0, 1.0])
    np.testing.assert_array_equal(per_image[0], 0.0)
    np.testing.assert_allclose(per_image[1], [[0, 0.25], [0.5, 1]])
    per_set = normalise(images, "per_set", [1.0, 3.0])
    np.testing.assert_allclose(per_set[1], [[0, 0.5], [1, 1]])  # beyond the set's range: clipped
    with pytest.raises(ValueError, match="holds the one value 2.0: normalise = per_set needs a range"):
        normalise(images, "per_set", [2.0, 2.0])


def test_a_colour_image_is_normalised_over_its_channels_together_keeping_its_colour_ratios():
    colour = np.stack([np.full((2, 2), 0.2), np.full((2, 2), 0.4), np.array([[0.2, 0.3], [0.6, 1.0]])])
    per_image = normalise(colour[None].astype(np.float32), "per_image", [0.0, 1.0])[0]
    np.testing.assert_allclose(per_image, (colour - 0.2) / 0.8, rtol=1e-6)  # one affine map for every channel
    masked = normalise_and_mask(np.ones((1, 3, 8, 8), np.float32) * np.linspace(0, 1, 8, dtype=np.float32),
                                {**FRONT_END, "circular_mask": True})
    assert (masked[0, :, 0, 0] == 0).all() and (masked[0, :, 4, 7] == 1.0).all()


def test_the_circular_mask_zeroes_the_corners_only():
    mask = circular_mask(8)
    assert not mask[0, 0] and not mask[7, 7] and mask[0, 3] and mask[3, 0] and mask[4, 4]
    images = normalise_and_mask(np.ones((1, 8, 8), np.float32) * np.linspace(0, 1, 8, dtype=np.float32),
                                {**FRONT_END, "circular_mask": True})
    assert images[0, 0, 0] == 0 and images[0, 4, 7] == 1.0


def test_prepare_images_takes_gray_images_of_any_size_and_png_batches(shared_data):
    maps = wafer_maps(shared_data, 3)
    grays = [states.astype(np.float32) / np.float32(255) for states in maps]
    batch = RawImageBatch("images", grays, ["a", "b", "c"])
    images = prepare_images(batch, FRONT_END)
    assert images.shape == (3, 16, 16) and images.dtype == np.float32 and images.min() == 0 and images.max() == 1
    same_size = RawImageBatch("png", np.stack([maps[0], maps[0]]), ["a.png", "b.png"])
    np.testing.assert_array_equal(prepare_images(same_size, FRONT_END), np.stack([images[0], images[0]]))


def test_new_images_take_the_sets_channels_gray_copied_colour_as_its_luminance(shared_data):
    gray = wafer_maps(shared_data, 1)[0].astype(np.float32) / np.float32(255)
    red = np.stack([gray, gray * 0, gray * 0])
    batch = RawImageBatch("images", [gray, red], ["gray.png", "red.png"])
    for_colour = prepare_images(batch, {**FRONT_END, "channels": 3})
    assert for_colour.shape == (2, 3, 16, 16)
    np.testing.assert_array_equal(for_colour[0, 0], for_colour[0, 1])
    np.testing.assert_array_equal(for_colour[0, 0], prepare_images(batch, FRONT_END)[0])  # as a gray set's
    assert for_colour[1, 1:].max() == 0 and for_colour[1, 0].max() == 1
    for_gray = prepare_images(batch, FRONT_END)
    assert for_gray.shape == (2, 16, 16)
    np.testing.assert_allclose(for_gray[1], for_gray[0], atol=1e-6)  # 0.299 R, normalised per image: the gray one


def test_prepare_images_refuses_an_image_below_min_side_pixels():
    batch = RawImageBatch("images", [np.ones((20, 20), np.float32), np.ones((1, 1), np.float32)], ["ok.png", "dot.png"])
    with pytest.raises(ValueError, match=r"dot.png: 1x1 pixels \(W x H\), below images.ingestion.min_side_pixels = 4"):
        prepare_images(batch, FRONT_END)


def test_against_the_border_what_stands_out_is_bright_either_way():
    light_field = np.full((1, 6, 6), 0.9, dtype=np.float32)
    light_field[0, 2:4, 2:4] = 0.3  # a dark object on a light field
    dark_field = 1 - light_field  # the same object, bright on dark
    for images in (light_field, dark_field):
        contrast = front_end.against_background(images, "border")
        assert np.allclose(contrast[0, 2:4, 2:4], 0.6) and np.allclose(contrast[0, 0], 0.0)
    assert front_end.against_background(light_field, "keep") is light_field
    with pytest.raises(ValueError, match="background must be one of"):
        front_end.against_background(light_field, "mean")
    red_on_blue = np.stack([light_field[0] * 0 + 0.1, light_field[0] * 0 + 0.8, light_field[0] * 0 + 0.8])
    red_on_blue[:, 2:4, 2:4] = np.array([0.9, 0.1, 0.1])[:, None, None]
    contrast = front_end.against_background(red_on_blue[None], "border")[0]  # each channel from its own border
    np.testing.assert_allclose(contrast[:, 2, 2], [0.8, 0.7, 0.7], rtol=1e-6)
    np.testing.assert_allclose(contrast[:, 0, 0], 0.0)


def test_the_background_step_serves_ingestion_and_new_images_alike():
    rng = np.random.default_rng(0)
    geometry = rng.random((3, 8, 8)).astype(np.float32)
    reference = front_end.intensity_range(front_end.against_background(geometry, "border"))
    settings = {"normalise": "per_set", "intensity_range": reference, "circular_mask": False}
    images = normalise_and_mask(front_end.against_background(geometry, "border"), settings)
    assert images.min() == 0.0 and images.max() == 1.0
    assert np.array_equal(normalise_and_mask(front_end.against_background(geometry[1:2], "border"), settings),
                          images[1:2])
