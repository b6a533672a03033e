"""The front end's nodes: labels and skips, the split, gray or colour channels, the geometry
and intensities, the seeded poses, the preview, the pipeline under its namespace, and new
images prepared exactly as ingestion prepared the same files."""

import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from irl_inr.data_checks import check_images
from irl_inr.domains.images import create_pipeline, front_end
from irl_inr.domains.images.datasets import ImageFolderDataset
from irl_inr.domains.images.front_end import prepare_images
from irl_inr.domains.images.nodes import image_front_end, ingest_images, pose_images, preview_images
from irl_inr.domains.images.readers import ImageFileReader
from irl_inr.geometry import pixels_to_normalised, transform_images
from irl_inr.tables import is_unlabelled
from tests.domains.images.folders import coloured, digits_of, wafer_maps, write_class_folders, write_image

CONTRACT_COLUMNS = ["image_id", "label", "label_name", "split", "rotation_radians", "shift_x_pixels", "shift_y_pixels"]


@pytest.fixture
def digit_folder(tmp_path, shared_data):
    """Three classes of 10 digits in every format ('digit 7' as one .npy stack)."""
    return write_class_folders(tmp_path / "digits", digits_of(shared_data, [1, 3, 7], 10), stack_class=7)


def load(folder, tmp_path, cache_size=32) -> dict:
    return ImageFolderDataset(str(folder), str(tmp_path / "decoded"), cache_size=cache_size).load()


def test_classes_are_coded_in_sorted_order_and_split_stratified(digit_folder, tmp_path):
    images, table, reference = ingest_images(load(digit_folder, tmp_path), {"image_size": 16})
    assert images.shape == (30, 3, 16, 16) and images.dtype == np.float32 and images.min() == 0 and images.max() == 1
    assert table.columns.tolist() == ["image_id", "label", "label_name", "split", "file", "frame", "mode", "colour",
                                      "height", "width"]
    assert table.groupby("label_name")["label"].first().to_dict() == {"digit 1": 0, "digit 3": 1, "digit 7": 2}
    assert table.groupby("label")["split"].apply(lambda split: (split == "test").sum()).tolist() == [2, 2, 2]
    assert reference["cache_size"] == 32 and 0 <= reference["intensity_range"][0] < reference["intensity_range"][1]
    assert reference["channels"] == 3  # colour JPEG, BMP and PNG among the digits


def write_colour_map_folder(root, shared_data, colour_maps=("viridis", "magma", "cividis")) -> dict:
    """MNIST digits drawn through a colour map per class, as lossless PNG: uint8 RGB
    (28, 28, 3) by file name."""
    drawn = {}
    for (label, group), colour_map in zip(digits_of(shared_data, [1, 3, 7], 4).items(), colour_maps):
        for index, digit in enumerate(group):
            drawn[f"{colour_map} {label}/{index}.png"] = coloured(digit, colour_map)
            write_image(root / f"{colour_map} {label}" / f"{index}.png", drawn[f"{colour_map} {label}/{index}.png"])
    return drawn


def test_a_colour_folder_gives_three_channels_in_the_colours_it_was_drawn_with(tmp_path, shared_data):
    drawn = write_colour_map_folder(tmp_path / "colour", shared_data)
    # cached and prepared at the digits' own 28 pixels: the geometry keeps every pixel as it is
    images, table, reference = ingest_images(load(tmp_path / "colour", tmp_path, 28), {"image_size": 28})
    assert images.shape == (12, 3, 28, 28) and reference["channels"] == 3 and table["colour"].all()
    for image, file in zip(images, table["file"]):
        rgb = np.moveaxis(drawn[file], -1, 0) / 255.0
        low, high = rgb.min(), rgb.max()  # per_image: one range over the three channels, so ratios are kept
        np.testing.assert_allclose(image, (rgb - low) / (high - low), atol=2e-6)


def luminance_today(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 gray as this domain read every colour image before it kept colour."""
    gray = np.zeros(rgb.shape[:2], np.float32)
    for channel, weight in enumerate((0.299, 0.587, 0.114)):
        gray += rgb[..., channel] * np.float32(weight / 255.0)
    return gray


def test_channels_gray_turns_a_colour_folder_into_its_luminance(tmp_path, shared_data):
    drawn = write_colour_map_folder(tmp_path / "colour", shared_data)
    images, table, reference = ingest_images(load(tmp_path / "colour", tmp_path, 28),
                                             {"image_size": 28, "channels": "gray"})
    assert images.shape == (12, 28, 28) and reference["channels"] == 1
    for image, file in zip(images, table["file"]):
        gray = luminance_today(drawn[file])
        np.testing.assert_allclose(image, (gray - gray.min()) / (gray.max() - gray.min()), atol=2e-6)


def test_a_gray_folder_gives_one_channel_and_channels_colour_copies_it(tmp_path, shared_data):
    digits = digits_of(shared_data, [1, 3], 4)
    for label, group in digits.items():
        for index, digit in enumerate(group):
            write_image(tmp_path / "gray" / str(label) / f"{index}.{('png', 'bmp')[index % 2]}", digit)
    raw = load(tmp_path / "gray", tmp_path, 28)
    images, table, reference = ingest_images(raw, {"image_size": 28})
    assert images.shape == (8, 28, 28) and reference["channels"] == 1 and not table["colour"].any()
    expected = np.concatenate(list(digits.values())) / np.float32(255)
    low, high = expected.min(axis=(1, 2), keepdims=True), expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_array_equal(images, ((expected - low) / (high - low)).astype(np.float32))
    copied, _, reference = ingest_images(raw, {"image_size": 28, "channels": "colour"})
    assert copied.shape == (8, 3, 28, 28) and reference["channels"] == 3
    np.testing.assert_array_equal(copied, np.stack([images] * 3, axis=1))


def test_auto_is_colour_only_when_a_kept_image_is(tmp_path, shared_data):
    digits = digits_of(shared_data, [1, 3], 2)
    for label, group in digits.items():
        for index, digit in enumerate(group):
            write_image(tmp_path / "mixed" / str(label) / f"{index}.png", digit)
    write_image(tmp_path / "mixed" / "lonely" / "red.png", np.dstack([digits[1][0], digits[1][0] * 0, digits[1][0] * 0]))
    raw = load(tmp_path / "mixed", tmp_path)
    assert raw["squares"].shape == (5, 3, 32, 32)  # the cache holds colour: one file is colour
    images, table, _ = ingest_images(raw, {"image_size": 16})  # the colour class of one image is skipped
    assert images.shape == (4, 16, 16) and "lonely" not in set(table["label_name"])
    np.testing.assert_array_equal(images, ingest_images(load(tmp_path / "mixed", tmp_path / "again"),
                                                        {"image_size": 16, "channels": "gray"})[0])
    assert ingest_images(raw, {"image_size": 16, "min_class_images": 1})[0].shape == (5, 3, 16, 16)


@pytest.mark.parametrize("settings", [{"image_size": 16}, {"image_size": 12, "crop": "pad", "normalise": "per_set",
                                                             "background": "border", "circular_mask": True}])
def test_ingestion_in_chunks_gives_the_same_images(digit_folder, tmp_path, monkeypatch, settings):
    raw = load(digit_folder, tmp_path)
    whole = ingest_images(raw, settings)[0]
    monkeypatch.setattr(front_end, "CHUNK_BYTES", 1)  # one image at a time
    np.testing.assert_array_equal(ingest_images(raw, settings)[0], whole)


def test_the_split_is_drawn_from_its_seed_alone(digit_folder, tmp_path):
    raw = load(digit_folder, tmp_path)
    splits = {seed: ingest_images(raw, {"image_size": 16, "seed": seed})[1]["split"] for seed in (0, 1)}
    again = ingest_images(raw, {"image_size": 16, "seed": 0})[1]["split"]
    assert splits[0].equals(again) and not splits[0].equals(splits[1])
    assert (splits[1] == "test").sum() == 6  # still 2 of every class


def test_class_names_that_are_whole_numbers_are_coded_by_value(tmp_path, shared_data):
    digits = digits_of(shared_data, [1, 2, 3], 2)
    for name, group in zip(("10", "2", "9"), digits.values()):
        for index, gray in enumerate(group):
            write_image(tmp_path / "numbered" / name / f"{index}.png", gray)
    _, table, _ = ingest_images(load(tmp_path / "numbered", tmp_path), {"image_size": 16})
    assert table.groupby("label_name")["label"].first().to_dict() == {"2": 0, "9": 1, "10": 2}


def test_an_image_size_above_the_cache_size_is_an_error_naming_both(digit_folder, tmp_path):
    with pytest.raises(ValueError, match=r"images.ingestion.image_size = 48 is above the 32 pixels the images are "
                                         r"cached at \(images.raw_images cache_size"):
        ingest_images(load(digit_folder, tmp_path), {"image_size": 48})


def test_tiny_images_and_classes_of_one_image_are_skipped_with_a_warning_each(digit_folder, tmp_path, caplog):
    write_image(digit_folder / "digit 1" / "dot.png", np.full((1, 1), 200, np.uint8))
    write_image(digit_folder / "lonely" / "one.png", np.full((28, 28), 200, np.uint8))
    with caplog.at_level(logging.WARNING):
        _, table, _ = ingest_images(load(digit_folder, tmp_path), {"image_size": 16})
    assert len(table) == 30 and "dot.png" not in " ".join(table["file"]) and "lonely" not in set(table["label_name"])
    small, scarce = caplog.messages
    assert "skipped 1 image(s) with a side below min_side_pixels = 8 pixels: digit 1/dot.png" in small
    assert "skipped 1 class(es) with fewer than min_class_images = 2 image(s): 'lonely' (1)" in scarce
    _, kept, _ = ingest_images(load(digit_folder, tmp_path), {"image_size": 16, "min_class_images": 1})
    assert "lonely" in set(kept["label_name"])


def test_nothing_left_after_the_filters_is_an_error_naming_the_folder(tmp_path):
    write_image(tmp_path / "dots" / "dot.png", np.full((3, 3), 9, np.uint8))
    with pytest.raises(ValueError, match=r"dots: no image is left after the filters of images.ingestion"):
        ingest_images(load(tmp_path / "dots", tmp_path), {})


def test_an_unlabelled_folder_is_one_class_clustered_unscored(tmp_path, shared_data, caplog):
    for index, states in enumerate(wafer_maps(shared_data, 12)):
        write_image(tmp_path / "wafers" / f"{index:02d}.{('png', 'bmp', 'jpg')[index % 3]}", coloured(states))
    images, table, _ = ingest_images(load(tmp_path / "wafers", tmp_path), {"crop": "pad", "circular_mask": True})
    assert set(table["label"]) == {0} and set(table["label_name"]) == {"unlabelled"}
    assert is_unlabelled(table["label"].to_numpy()) and images.shape == (12, 3, 32, 32)
    assert images[..., 0, 0].max() == 0  # masked corners
    with caplog.at_level(logging.WARNING):
        line = check_images("images", table, {"clustering": {"n_clusters": 3, "mining": {"neighbours": 5},
                                                             "scan": {"optimisation": {"batch_size": 4}},
                                                             "selflabel": {"optimisation": {"batch_size": 4}},
                                                             "dti": {"optimisation": {"batch_size": 4}}}})
    assert "images: 12 images (10 train), unlabelled" in line
    assert any("clustered into clustering.n_clusters = 3 unscored" in message for message in caplog.messages)


@pytest.mark.parametrize("channels", ["gray", "colour"])
def test_posing_rotates_and_shifts_by_seeded_draws_recorded_in_the_table(digit_folder, tmp_path, channels):
    prepared, table, _ = ingest_images(load(digit_folder, tmp_path), {"image_size": 16, "channels": channels})
    options = {"rotate": True, "max_shift_pixels": 2.0, "seed": 3, "batch_size": 7}
    images, image_table = pose_images(prepared, table, options)
    assert image_table.columns.tolist()[:7] == CONTRACT_COLUMNS and image_table["file"].equals(table["file"])
    rotation, shift = image_table["rotation_radians"].to_numpy(), image_table[["shift_x_pixels", "shift_y_pixels"]]
    assert 0 <= rotation.min() and rotation.max() < 2 * math.pi and np.abs(shift.to_numpy()).max() <= 2.0
    assert images.shape == prepared.shape
    one_channel = torch.from_numpy(prepared.reshape(-1, 1, 16, 16))  # every channel posed as a gray image alone
    repeats = 1 if channels == "gray" else 3
    expected = transform_images(one_channel, torch.tensor(rotation).float().repeat_interleave(repeats),
                                pixels_to_normalised(torch.tensor(shift.to_numpy()).float(), 16).repeat_interleave(
                                    repeats, dim=0))
    np.testing.assert_allclose(images, expected.reshape(prepared.shape).clamp(0, 1).numpy(), atol=1e-6)
    again, _ = pose_images(prepared, table, {**options, "batch_size": 1024})
    np.testing.assert_array_equal(images, again)


def test_images_kept_as_they_came_have_an_unknown_pose(digit_folder, tmp_path):
    prepared, table, _ = ingest_images(load(digit_folder, tmp_path), {"image_size": 16})
    images, image_table = pose_images(prepared, table, {})
    np.testing.assert_array_equal(images, prepared)
    assert image_table[CONTRACT_COLUMNS[4:]].isna().all().all()
    _, shifted = pose_images(prepared, table, {"max_shift_pixels": 1.0})
    assert shifted["rotation_radians"].isna().all() and shifted["shift_x_pixels"].notna().all()
    figure = preview_images(prepared, images, image_table, {"preview_count": 4})
    assert isinstance(figure, Figure) and len(figure.axes) == 8
    assert figure.axes[0].get_images()[0].get_array().shape == (16, 16, 3)  # colour shown as R, G, B
    assert [axis.get_title() for axis in figure.axes[:4]] == ["digit 1", "digit 3", "digit 7", "digit 1"]
    assert [axis.get_title() for axis in figure.axes[4:]] == ["as read"] * 4


@pytest.mark.parametrize("settings", [
    {"image_size": 16, "crop": "centre", "normalise": "per_image"},
    {"image_size": 12, "crop": "pad", "normalise": "per_set", "circular_mask": True},
    {"image_size": 16, "crop": "pad", "normalise": "per_set", "background": "border", "channels": "gray"},
    {"image_size": 16, "crop": "centre", "normalise": "per_image", "channels": "colour"},
])
def test_new_images_are_prepared_exactly_as_ingestion_prepared_the_same_files(tmp_path, shared_data, settings):
    for index, states in enumerate(wafer_maps(shared_data, 8)):  # maps of many sizes and aspect ratios
        pixels = coloured(states) if index % 2 else states.astype(np.uint16) * 257
        write_image(tmp_path / "wafers" / f"{index}.{'png' if index % 2 else 'tif'}", pixels)
    prepared, table, reference = ingest_images(load(tmp_path / "wafers", tmp_path), settings)
    front_end = image_front_end(settings, reference)
    reader = ImageFileReader(tmp_path / "wafers")
    new = np.concatenate([prepare_images(reader.read(start, start + 3), front_end) for start in (0, 3, 6)])
    assert new.shape == prepared.shape and prepared.ndim == (3 if settings.get("channels") == "gray" else 4)
    np.testing.assert_array_equal(new, prepared)


def test_the_front_end_under_a_namespace_gives_images_and_image_table(digit_folder, tmp_path):
    pipeline = Pipeline(create_pipeline(), namespace="images")
    assert {node.name: node.tags for node in pipeline.nodes} == {
        "images.ingest_images": {"ingestion"}, "images.pose_images": {"augmentation"},
        "images.preview_images": {"augmentation"},
    }
    outputs = ("images", "image_table", "preview", "prepared_images", "prepared_table", "set_reference")
    catalog = DataCatalog({
        "images.raw_images": MemoryDataset(load(digit_folder, tmp_path)),
        "params:images.ingestion": MemoryDataset({"image_size": 16}),
        "params:images.augmentation": MemoryDataset({"rotate": True}),
        **{f"images.{name}": MemoryDataset() for name in outputs},
    })
    SequentialRunner().run(pipeline, catalog)
    assert isinstance(catalog.load("images.preview"), Figure)
    outputs = SequentialRunner().run(pipeline.only_nodes("images.ingest_images", "images.pose_images"), catalog)
    images, table = outputs["images.images"].load(), outputs["images.image_table"].load()
    assert images.shape == (30, 3, 16, 16) and isinstance(table, pd.DataFrame)
    assert table["rotation_radians"].notna().all()
