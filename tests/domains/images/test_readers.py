"""The reader of new images: a file or a folder of any mix of formats, sizes and channels
(gray or colour, as stored), in ranges, each problem one DatasetError naming the file; the
formats told from the name."""

import logging

import numpy as np
import pytest
from kedro.io.core import DatasetError

from irl_inr.datasets.new_images import NewImagesDataset, detect_format
from irl_inr.domains.images import reading
from irl_inr.domains.images.readers import ImageFileReader
from tests.domains.images.folders import coloured, mnist_digits, wafer_maps, write_image


@pytest.fixture
def mixed_folder(tmp_path, shared_data):
    digits = mnist_digits(shared_data, 4)[0]
    maps = wafer_maps(shared_data, 2)
    folder = tmp_path / "new"
    write_image(folder / "a.jpg", coloured(digits[0]))
    write_image(folder / "b.npy", digits[1:4])
    write_image(folder / "c.tiff", maps[0].astype(np.uint16) * 257)
    write_image(folder / "more" / "d.png", coloured(maps[1], "inferno"))
    (folder / "labels.csv").write_text("file,label\na.jpg,x\n")  # not needed to predict: ignored
    (folder / "notes.md").write_text("about these images")
    return folder


def test_a_folder_of_any_formats_and_sizes_is_read_in_file_order(mixed_folder, shared_data, caplog):
    with caplog.at_level(logging.WARNING):
        reader = ImageFileReader(mixed_folder)
    assert "skipped 1 entry that is not an image" in caplog.text and "notes.md" in caplog.text
    assert reader.total == 6
    batch = reader.read(0, 6)
    assert batch.format == "images"
    assert batch.sources == ["a.jpg", "b.npy[0]", "b.npy[1]", "b.npy[2]", "c.tiff", "more/d.png"]
    maps = wafer_maps(shared_data, 2)
    assert [pixels.shape for pixels in batch.pixels] == [(3, 28, 28)] + [(28, 28)] * 3 + [maps[0].shape,
                                                                                          (3, *maps[1].shape)]
    np.testing.assert_array_equal(reader.read(2, 3).pixels[0], mnist_digits(shared_data, 4)[0][2] / np.float32(255))


def test_a_stacks_images_in_one_range_open_the_file_once(mixed_folder, monkeypatch):
    opened, stack = [], reading._stack
    monkeypatch.setattr(reading, "_stack", lambda path: opened.append(path.name) or stack(path))
    batch = ImageFileReader(mixed_folder).read(0, 6)
    assert len(batch.pixels) == 6 and opened == ["b.npy", "b.npy"]  # counting the frames, then reading all three


def test_one_file_is_read_alone(mixed_folder):
    reader = ImageFileReader(mixed_folder / "b.npy")
    assert reader.total == 3 and reader.read(1, 3).sources == ["b.npy[1]", "b.npy[2]"]
    assert ImageFileReader(mixed_folder / "more" / "d.png").read(0, 1).sources == ["d.png"]


def test_what_it_cannot_read_is_a_dataset_error_naming_it(mixed_folder, tmp_path):
    with pytest.raises(DatasetError, match=r"notes.md: not an image file this domain reads \(.png .jpg"):
        ImageFileReader(mixed_folder / "notes.md")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: holds no image file"):
        ImageFileReader(tmp_path / "empty")
    reader = ImageFileReader(mixed_folder)
    (mixed_folder / "c.tiff").write_text("no longer an image")
    with pytest.raises(DatasetError, match=r"c.tiff: not a readable image"):
        reader.read(4, 5)


@pytest.mark.parametrize("name", ["photo.jpg", "photo.JPEG", "scan.tif", "scan.TIFF", "old.bmp", "stack.npy"])
def test_the_shared_dataset_tells_these_formats_from_the_name(tmp_path, name):
    assert ImageFileReader.matches(tmp_path / name) and detect_format(tmp_path / name) == "images"
    assert not ImageFileReader.matches(tmp_path / "one.png") and detect_format(tmp_path / "one.png") == "png"
    (tmp_path / name).write_bytes(b"")
    assert NewImagesDataset(str(tmp_path / name)).load().format == "images"
