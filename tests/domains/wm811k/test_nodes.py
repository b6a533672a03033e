import logging
import math

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from irl_inr.domains.wm811k import create_pipeline
from irl_inr.domains.wm811k.nodes import (
    ingest_wafers,
    preview_indices,
    preview_wafers,
    rotate_wafers,
)
from irl_inr.domains.wm811k.parameters import WaferAugmentationParameters, WaferIngestionParameters
from irl_inr.domains.wm811k.front_end import resize_nearest
from tests.domains.wm811k.wafers import disk_map

CONTRACT_COLUMNS = ["image_id", "label", "label_name", "split", "rotation_radians", "shift_x_pixels", "shift_y_pixels"]


def raw_wafers(failure_types, splits=None, maps=None) -> dict:
    """What WaferPickleDataset loads: table, maps, source."""
    count = len(failure_types)
    maps = [disk_map(30 + i % 4, 28 + i % 3, defect=(5, 8)) for i in range(count)] if maps is None else maps
    splits = [None] * count if splits is None else splits
    table = pd.DataFrame(
        {
            "row_id": np.arange(count, dtype=np.int64) * 3 + 100,
            "lot_name": [f"lot{i}" for i in range(count)],
            "wafer_index": np.ones(count),
            "die_size": np.full(count, 900.0),
            "published_split": splits,
            "failure_type": failure_types,
            "map_height": [m.shape[0] for m in maps],
            "map_width": [m.shape[1] for m in maps],
        }
    )
    return {"table": table, "maps": maps, "source": "LSWMD.pkl"}


def test_labels_follow_the_fixed_order_and_filters_drop_unlabelled_and_none():
    raw = raw_wafers(["Scratch", None, "none", "Center", "Edge-Loc", "Scratch"])
    die_maps, table = ingest_wafers(raw, {"image_size": 16})
    assert die_maps.shape == (4, 64, 64) and die_maps.dtype == np.uint8  # supersample 4
    assert table["label_name"].tolist() == ["Scratch", "Center", "Edge-Loc", "Scratch"]
    assert table["label"].tolist() == [2, 0, 1, 2]  # Center, Edge-Loc, Scratch
    assert table["row_id"].tolist() == [100, 109, 112, 115] and table["image_id"].tolist() == [0, 1, 2, 3]


def test_unlabelled_and_none_can_be_kept():
    raw = raw_wafers(["Loc", None, "none"])
    _, table = ingest_wafers(raw, {"labelled_only": False, "drop_none": False})
    assert table["label_name"].tolist() == ["Loc", "unlabelled", "none"]
    assert table["label"].tolist() == [0, 2, 1]


def test_classes_and_the_per_class_cap_are_applied_and_logged(caplog):
    raw = raw_wafers(["Loc"] * 6 + ["Near-full", "Donut", "Donut"])
    with caplog.at_level(logging.INFO):
        _, table = ingest_wafers(raw, {"classes": ["Loc", "Donut"], "per_class_cap": 4})
    assert table["label_name"].value_counts().to_dict() == {"Loc": 4, "Donut": 2}
    assert "skipping 1 wafer(s) of types outside classes" in caplog.text
    assert "skipping 2 wafer(s) of type 'Loc' beyond per_class_cap" in caplog.text
    again = ingest_wafers(raw, {"classes": ["Loc", "Donut"], "per_class_cap": 4})[1]
    assert again["row_id"].tolist() == table["row_id"].tolist()


def test_an_unknown_failure_type_is_an_error_naming_the_file_and_row():
    with pytest.raises(ValueError, match=r"LSWMD.pkl: row 103: unknown failure type 'Blob'"):
        ingest_wafers(raw_wafers(["Loc", "Blob"]), {})


def test_maps_without_dies_are_skipped_with_a_count(caplog):
    maps = [disk_map(30, 30), np.zeros((0, 0), np.uint8), np.zeros((20, 20), np.uint8)]
    with caplog.at_level(logging.INFO):
        die_maps, table = ingest_wafers(raw_wafers(["Loc", "Loc", "Center"], maps=maps), {})
    assert len(die_maps) == 1 and table["row_id"].tolist() == [100]
    assert "skipping 2 wafer(s) whose map holds no die (row ids [103, 106])" in caplog.text


def test_a_missing_column_or_count_mismatch_is_an_error():
    raw = raw_wafers(["Loc"])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['failure_type'\]"):
        ingest_wafers({**raw, "table": raw["table"].drop(columns="failure_type")}, {})
    with pytest.raises(ValueError, match="2 maps but 1 rows"):
        ingest_wafers({**raw, "maps": raw["maps"] * 2}, {})


def test_published_splits_are_kept_on_request_and_the_rest_split_stratified():
    raw = raw_wafers(["Loc"] * 10 + ["Center"] * 10, splits=["Test", "Training"] + [None] * 18)
    _, table = ingest_wafers(raw, {"test_fraction": 0.25, "published_split": True})
    assert table["split"].tolist()[:2] == ["test", "train"] and table["published_split"].tolist()[:2] == ["Test", "Training"]
    rest = table.iloc[2:]
    assert rest.groupby("label_name")["split"].apply(lambda s: (s == "test").sum()).to_dict() == {"Center": 2, "Loc": 2}


def test_by_default_every_wafer_is_split_stratified_whatever_was_published():
    """The published split can be lopsided (22 Training against 1,581 Test wafers in the
    lots of LSWMD_lots_2k.pkl): by default every wafer gets the seeded stratified split,
    and the published one stays in its column."""
    raw = raw_wafers(["Loc"] * 10 + ["Center"] * 10, splits=["Test"] * 20)
    _, table = ingest_wafers(raw, {"test_fraction": 0.3})
    assert table.groupby("label_name")["split"].apply(lambda s: (s == "test").sum()).to_dict() == {"Center": 3, "Loc": 3}
    assert (table["published_split"] == "Test").all()


def test_resize_keeps_die_states_and_stretches_the_bounding_box():
    states = disk_map(70, 36, defect=(35, 18))
    resized = resize_nearest(states, 32)
    assert resized.shape == (32, 32) and set(np.unique(resized)) == {0, 1, 2}
    assert resized[16, 16] == 2 and resized[0, 0] == 0 and resized[16, 0] == 1


def test_rotation_only_keeps_states_and_the_angle_explains_the_image():
    one_state_per_pixel = {"image_size": 32, "supersample": 1}
    die_maps, table = ingest_wafers(raw_wafers(["Loc"] * 5), one_state_per_pixel)
    images, image_table = rotate_wafers(die_maps, table, one_state_per_pixel, {"die_intensities": [0.0, 0.5, 1.0]})
    assert images.shape == (5, 32, 32) and images.dtype == np.float32
    assert set(np.unique(images)) <= {0.0, 0.5, 1.0}
    assert list(image_table.columns[: len(table.columns)]) == list(table.columns)
    assert set(CONTRACT_COLUMNS) <= set(image_table.columns)
    assert (image_table[["shift_x_pixels", "shift_y_pixels"]] == 0.0).all().all()
    assert image_table["rotation_radians"].between(0, 2 * math.pi).all()
    # the defect (state 2) moves as the recorded rotation says: clockwise on screen
    for index in range(5):
        angle = image_table["rotation_radians"].iloc[index]
        before = np.argwhere(die_maps[index] == 2).mean(axis=0) - 15.5  # (y, x) from the centre
        after = np.argwhere(images[index] == 1.0).mean(axis=0) - 15.5
        x, y = before[1], before[0]
        expected = np.array([x * math.sin(angle) + y * math.cos(angle), x * math.cos(angle) - y * math.sin(angle)])
        assert np.abs(after - expected).max() < 1.5


def test_no_rotation_is_the_identity_and_the_draws_are_seeded():
    sizes = {"image_size": 32}  # supersample 4: die maps 128 x 128, images the means of 4 x 4 blocks
    die_maps, table = ingest_wafers(raw_wafers(["Loc"] * 3), sizes)
    assert die_maps.shape == (3, 128, 128)
    images, _ = rotate_wafers(die_maps, table, sizes, {"max_rotation_degrees": 0.0})
    intensities = np.array([0.0, 0.25, 1.0], np.float32)[die_maps]
    assert np.allclose(images, intensities.reshape(3, 32, 4, 32, 4).mean(axis=(2, 4)), atol=1e-6)
    first = rotate_wafers(die_maps, table, sizes, {"seed": 1})
    assert np.array_equal(first[0], rotate_wafers(die_maps, table, sizes, {"seed": 1})[0])
    assert not np.allclose(first[1]["rotation_radians"], rotate_wafers(die_maps, table, sizes, {"seed": 2})[1]["rotation_radians"])


def test_supersampling_keeps_a_thin_scratch_that_one_state_per_pixel_breaks():
    """A one-die-wide scratch on a 51-die map: at one state per pixel (32 of 51 rows
    sampled) stretches of it vanish; averaged over 4 x 4 blocks every stretch still
    shows, dimmer, and its defect mass is kept."""
    clean = disk_map(51, 51)
    scratched = clean.copy()
    rows = np.arange(10, 42)
    scratched[rows, rows // 2 + 12] = 2  # a steep diagonal line, well inside the wafer
    levels = {"max_rotation_degrees": 0.0, "die_intensities": [0.0, 0.25, 1.0]}
    for supersample in (1, 4):
        sizes = {"image_size": 32, "supersample": supersample}
        die_maps, table = ingest_wafers(raw_wafers(["Scratch", "none"], maps=[scratched, clean]), {**sizes, "drop_none": False})
        images, _ = rotate_wafers(die_maps, table, sizes, levels)
        defect = images[0] - images[1]  # 0.75 x the defective share of each pixel
        rows_showing = (defect > 0).any(axis=1)[8:25]  # image rows of die rows ~13..39
        if supersample == 1:
            assert not rows_showing.all()
        else:
            assert rows_showing.all()
            expected = 0.75 * len(rows) * (32 / 51) ** 2  # one die is (32/51)^2 of a pixel
            assert abs(defect.sum() - expected) < 0.1 * expected


def test_die_maps_of_another_supersampling_ask_for_ingestion_again():
    die_maps, table = ingest_wafers(raw_wafers(["Loc"] * 2), {"image_size": 16, "supersample": 2})
    with pytest.raises(ValueError, match=r"die maps must have shape \(N, 64, 64\).*rerun ingestion"):
        rotate_wafers(die_maps, table, {"image_size": 16}, {})


def test_preview_shows_every_class_first():
    assert preview_indices(np.array([0, 0, 1, 2, 1, 0]), 4) == [0, 2, 3, 1]
    die_maps, table = ingest_wafers(raw_wafers(["Loc", "Center", "Loc"]), {"image_size": 16})
    images, image_table = rotate_wafers(die_maps, table, {"image_size": 16}, {})
    figure = preview_wafers(die_maps, images, image_table, {"preview_count": 3})
    assert isinstance(figure, Figure)
    assert [axis.get_title() for axis in figure.axes[:3]] == ["Center", "Loc", "Loc"]  # top row, label order


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"image_size": 3}, r"wm811k.ingestion.image_size = 3: must be at least 8"),
        ({"supersample": 0}, r"wm811k.ingestion.supersample = 0: must be an integer in \[1, 16\]"),
        ({"supersample": 2.5}, r"wm811k.ingestion.supersample = 2.5"),
        ({"classes": ["Blob"]}, r"wm811k.ingestion.classes = \['Blob'\]: names unknown failure type"),
        ({"classes": ["none"]}, "keeps 'none', which drop_none: true drops"),
        ({"per_class_cap": 0}, "wm811k.ingestion.per_class_cap = 0"),
        ({"test_fraction": 1.0}, "wm811k.ingestion.test_fraction = 1.0: must be in"),
        ({"sizes": 3}, r"wm811k.ingestion: unknown parameter\(s\) \['sizes'\]"),
    ],
)
def test_bad_ingestion_parameters_name_themselves(parameters, message):
    with pytest.raises(ValueError, match=message):
        WaferIngestionParameters.from_dict(parameters)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"die_intensities": [0.0, 0.5]}, "must be three numbers"),
        ({"die_intensities": [0.5, 0.0, 1.0]}, "keep 'no die' darkest"),
        ({"die_intensities": [0.0, 1.0, 1.0]}, "must differ"),
        ({"max_rotation_degrees": 400}, "wm811k.augmentation.max_rotation_degrees = 400"),
    ],
)
def test_bad_augmentation_parameters_name_themselves(parameters, message):
    with pytest.raises(ValueError, match=message):
        WaferAugmentationParameters.from_dict(parameters)


def test_the_front_end_under_a_namespace_gives_images_and_image_table():
    pipeline = Pipeline(create_pipeline(), namespace="wm811k")
    assert pipeline.all_outputs() >= {"wm811k.images", "wm811k.image_table", "wm811k.preview"}
    assert {node.name: node.tags for node in pipeline.nodes} == {
        "wm811k.ingest_wafers": {"ingestion"}, "wm811k.rotate_wafers": {"augmentation"},
        "wm811k.preview_wafers": {"augmentation"},
    }
    catalog = DataCatalog(
        {
            "wm811k.raw_wafers": MemoryDataset(raw_wafers(["Loc", "Center", "Scratch"])),
            "params:wm811k.ingestion": MemoryDataset({"image_size": 16}),
            "params:wm811k.augmentation": MemoryDataset({}),
            **{name: MemoryDataset() for name in ("wm811k.images", "wm811k.image_table", "wm811k.preview")},
        }
    )
    SequentialRunner().run(pipeline, catalog)
    assert isinstance(catalog.load("wm811k.preview"), Figure)
    outputs = SequentialRunner().run(pipeline.only_nodes("wm811k.ingest_wafers", "wm811k.rotate_wafers"), catalog)
    images, table = outputs["wm811k.images"].load(), outputs["wm811k.image_table"].load()
    assert images.shape == (3, 16, 16) and table["label_name"].tolist() == ["Loc", "Center", "Scratch"]
    assert table["label"].tolist() == [1, 0, 2]
