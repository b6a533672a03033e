"""The report's image figures: one channel in a colour map, three channels in RGB."""

from __future__ import annotations

import numpy as np
import pytest

from irl_inr.reporting import figures

SIZE = 6


def _images(count: int, channels: int | None = None) -> np.ndarray:
    """Random images (count, S, S), or (count, channels, S, S), a little outside [0, 1]."""
    shape = (count, SIZE, SIZE) if channels is None else (count, channels, SIZE, SIZE)
    return np.random.default_rng(0).uniform(-0.2, 1.2, shape).astype(np.float32)


def _drawn(figure) -> list:
    """The arrays that the figure's axes show, axis by axis (axes without an image left out)."""
    return [np.asarray(axis.images[0].get_array()) for axis in figure.axes if axis.images]


def test_an_image_is_shown_in_a_colour_map_or_as_rgb():
    grey, colour, two = _images(1)[0], _images(1, 3)[0], _images(1, 2)[0]
    assert figures.shown(grey) is grey
    np.testing.assert_array_equal(figures.shown(colour), np.clip(colour.transpose(1, 2, 0), 0, 1))
    np.testing.assert_array_equal(figures.shown(two), two.mean(axis=0))


def test_image_rows_draw_colour_stacks_in_rgb_and_grey_ones_in_the_colour_map():
    colour, grey = _images(3, 3), _images(2)
    figure = figures.image_rows([("colour", colour), ("grey", grey)], 4.0, "rows", colours=figures.GREY)
    drawn = _drawn(figure)
    assert [image.shape for image in drawn] == [(SIZE, SIZE, 3)] * 3 + [(SIZE, SIZE)] * 2
    for image, expected in zip(drawn[:3], colour):
        np.testing.assert_array_equal(image, np.clip(expected.transpose(1, 2, 0), 0, 1))
    grey_axes = [axis for axis in figure.axes if axis.images][3:]
    assert all(axis.images[0].get_cmap().name == "gray" and axis.images[0].get_clim() == (0, 1) for axis in grey_axes)


@pytest.mark.parametrize("channels", [None, 3])
def test_the_cluster_gallery_shows_means_and_exemplars_of_either_kind(channels):
    exemplars = [_images(2, channels), _images(1, channels)]
    averages = np.stack([stack.mean(axis=0) for stack in exemplars])
    figure = figures.cluster_gallery(averages, exemplars, ["a", "b"], 4.0, "gallery")
    expected = (SIZE, SIZE) if channels is None else (SIZE, SIZE, 3)
    assert [image.shape for image in _drawn(figure)] == [expected] * 5  # two means, three exemplars
