"""Table helpers: split selection, the stratified split, rows of image ids."""

import numpy as np
import pandas as pd
import pytest

from irl_inr.tables import row_positions, rows_of_split, select_split, split_rows, stratified_split


@pytest.fixture
def images_and_table():
    images = np.arange(32 * 4, dtype=np.float32).reshape(32, 2, 2)
    table = pd.DataFrame({"image_id": range(32), "label": np.arange(32) % 2, "split": ["train"] * 24 + ["test"] * 8})
    return images, table


def test_select_split(images_and_table):
    images, table = images_and_table
    test_images, test_table = select_split(images, table, "test")
    assert len(test_images) == 8 and test_table["image_id"].tolist() == list(range(24, 32))
    assert np.array_equal(test_images, images[24:])
    with pytest.raises(ValueError, match="no image has split 'valid'"):
        select_split(images, table, "valid")
    all_images, all_table = select_split(images, table, "all")
    assert all_images is images and all_table is table


def test_split_rows_read_no_pixel_and_check_the_lengths(images_and_table):
    images, table = images_and_table
    assert split_rows(images, table, "test").tolist() == list(range(24, 32))
    assert split_rows(images, table, "all").tolist() == list(range(32))
    with pytest.raises(ValueError, match="31 images but 32 rows"):
        split_rows(images[:31], table, "train")
    assert rows_of_split(table, "valid").tolist() == []  # no error: the caller decides


def test_stratified_split_takes_the_same_share_of_every_class():
    labels = np.array([0] * 10 + [1] * 20 + [2] * 5)
    rows, split = stratified_split(labels, 0.2, np.random.default_rng(0))
    assert sorted(rows.tolist()) == list(range(35))
    tests = {label: int(((labels[rows] == label) & (split == "test")).sum()) for label in (0, 1, 2)}
    assert tests == {0: 2, 1: 4, 2: 1}
    again = stratified_split(labels, 0.2, np.random.default_rng(0))
    assert np.array_equal(rows, again[0]) and np.array_equal(split, again[1])


def test_stratified_split_keeps_at_most_each_class_quota_and_takes_no_class_at_all():
    labels = np.array([0] * 10 + [1] * 20)
    rows, split = stratified_split(labels, 0.5, np.random.default_rng(1), quotas=[4, 6])
    assert np.bincount(labels[rows]).tolist() == [4, 6] and (split == "test").sum() == 5
    rows, split = stratified_split(np.array([], dtype=np.int64), 0.5, np.random.default_rng(1))
    assert len(rows) == len(split) == 0


def test_row_positions_of_ids_with_minus_one_for_the_missing():
    table = pd.DataFrame({"image_id": [7, 3, 9]})
    assert row_positions(table, np.array([9, 7, 4])).tolist() == [2, 0, -1]
