"""The folder dataset: a mix of formats and sizes decoded once into an atomic cache keyed by
the files' content; errors that name the folder or file and leave the cache as it was;
and the dataset of new images for images_predict."""

import logging

import numpy as np
import pytest
from kedro.io.core import DatasetError

from irl_inr.domains.images import datasets
from irl_inr.datasets.new_images import NewImagesDataset
from irl_inr.domains.images.datasets import ImageFolderDataset
from irl_inr.domains.images.front_end import to_square
from tests.domains.images.folders import coloured, digits_of, wafer_maps, write_class_folders, write_image


@pytest.fixture
def digit_folder(tmp_path, shared_data):
    """Three classes of 5 digits in every format ('digit 7' as one .npy stack)."""
    return write_class_folders(tmp_path / "digits", digits_of(shared_data, [1, 3, 7], 5), stack_class=7)


def dataset_of(folder, tmp_path, cache_size=32) -> ImageFolderDataset:
    return ImageFolderDataset(str(folder), str(tmp_path / "cache" / "decoded.npz"), cache_size=cache_size)


def test_a_folder_of_every_format_loads_as_squares_with_one_row_per_image(digit_folder, tmp_path):
    loaded = dataset_of(digit_folder, tmp_path).load()
    squares, table = loaded["squares"], loaded["table"]
    assert squares.shape == (15, 32, 32) and squares.dtype == np.float32 and loaded["source"] == str(digit_folder)
    assert table.columns.tolist() == ["file", "frame", "mode", "height", "width", "class_name"]
    assert table["class_name"].tolist() == ["digit 1"] * 5 + ["digit 3"] * 5 + ["digit 7"] * 5
    assert table["mode"].tolist()[:5] == ["L", "RGB", "I;16", "RGB", "RGBA"]
    assert table["file"].tolist()[-5:] == ["digit 7/stack.npy"] * 5 and table["frame"].tolist()[-5:] == [0, 1, 2, 3, 4]
    assert (table["height"] == 28).all() and (table["width"] == 28).all()
    assert squares.min() >= 0 and squares.max() <= 1 and (squares.reshape(15, -1).max(1) > 0.5).all()


def test_images_of_many_sizes_unlabelled_share_one_cache_size(tmp_path, shared_data):
    maps = wafer_maps(shared_data, 6)
    for index, states in enumerate(maps):
        write_image(tmp_path / "wafers" / f"w{index}.{'png' if index % 2 else 'tiff'}", coloured(states, "plasma"))
    loaded = dataset_of(tmp_path / "wafers", tmp_path, cache_size=16).load()
    table = loaded["table"]
    assert loaded["squares"].shape == (6, 16, 16) and table["class_name"].isna().all()
    assert list(zip(table["height"], table["width"])) == [states.shape for states in maps]


def test_a_later_load_reads_the_cache_and_a_changed_file_is_decoded_again(digit_folder, tmp_path, monkeypatch):
    dataset = dataset_of(digit_folder, tmp_path)
    first = dataset.load()
    decode = datasets.decode_images

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(datasets, "decode_images", no_decoding)
    again = dataset.load()
    np.testing.assert_array_equal(first["squares"], again["squares"])
    assert first["table"].equals(again["table"])
    files = sorted(set(first["table"]["file"]))
    (digit_folder / "labels.csv").write_text("file,label\n" + "".join(f"{file},{file.rsplit('.')[1]}\n" for file in files))
    assert dataset.load()["table"]["class_name"].tolist()[:5] == ["png", "jpg", "tif", "bmp", "png"]  # new labels, no decoding
    (digit_folder / "labels.csv").unlink()
    changed = digit_folder / "digit 1" / "000.png"
    write_image(changed, np.full((28, 28), 255, np.uint8))
    with pytest.raises(DatasetError, match="decoded again"):
        dataset.load()
    monkeypatch.setattr(datasets, "decode_images", decode)
    np.testing.assert_allclose(dataset.load()["squares"][0], to_square(np.ones((28, 28), np.float32), 32), rtol=1e-6)
    assert not list((tmp_path / "cache").glob(".*tmp"))  # no temporary file left behind


def decoding_count(monkeypatch) -> list[int]:
    """Counts the images ``decode_images`` decodes from now on (one entry per call)."""
    calls, decode = [], datasets.decode_images

    def counted(folder, files, cache_size):
        squares, table = decode(folder, files, cache_size)
        calls.append(len(squares))
        return squares, table

    monkeypatch.setattr(datasets, "decode_images", counted)
    return calls


def test_a_file_added_removed_or_renamed_is_decoded_again_never_served_from_the_cache(digit_folder, tmp_path,
                                                                                    monkeypatch):
    dataset = dataset_of(digit_folder, tmp_path)
    first = dataset.load()
    calls = decoding_count(monkeypatch)
    write_image(digit_folder / "digit 3" / "new.png", np.full((28, 28), 255, np.uint8))
    added = dataset.load()
    assert calls == [16] and "digit 3/new.png" in set(added["table"]["file"])
    (digit_folder / "digit 3" / "new.png").unlink()
    removed = dataset.load()
    assert calls == [16, 15] and removed["table"].equals(first["table"])
    (digit_folder / "digit 1" / "000.png").rename(digit_folder / "digit 3" / "moved.png")  # another class
    renamed = dataset.load()
    assert calls == [16, 15, 15]
    assert renamed["table"]["class_name"].value_counts().to_dict() == {"digit 1": 4, "digit 3": 6, "digit 7": 5}
    dataset.load()
    assert calls == [16, 15, 15]  # the same files again: read from the cache


def test_the_cache_key_changes_with_the_size_the_order_the_content_and_pillow(monkeypatch):
    files = {"a.png": "1" * 64, "b.png": "2" * 64}
    key = datasets.cache_key(files, 32)
    assert key == datasets.cache_key(dict(files), 32)
    assert key != datasets.cache_key(files, 16)
    assert key != datasets.cache_key(dict(reversed(files.items())), 32)
    assert key != datasets.cache_key({**files, "b.png": "3" * 64}, 32)
    monkeypatch.setattr(datasets.PIL, "__version__", "0.0.1")
    assert key != datasets.cache_key(files, 32)


def test_another_cache_size_decodes_again(digit_folder, tmp_path):
    dataset_of(digit_folder, tmp_path, cache_size=32).load()
    assert dataset_of(digit_folder, tmp_path, cache_size=16).load()["squares"].shape[-1] == 16


def test_a_bad_file_is_one_dataset_error_naming_it_and_the_cache_stays_as_it_was(digit_folder, tmp_path):
    dataset = dataset_of(digit_folder, tmp_path)
    dataset.load()
    cache = tmp_path / "cache" / "decoded.npz"
    before = cache.read_bytes()
    whole = (digit_folder / "digit 3" / "001.jpg").read_bytes()
    (digit_folder / "digit 3" / "001.jpg").write_bytes(whole[: len(whole) // 3])
    with pytest.raises(DatasetError, match=r"digit 3/001.jpg: not a readable image"):
        dataset.load()
    (digit_folder / "digit 3" / "001.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"digit 3/001.jpg: is empty \(0 bytes\)"):
        dataset.load()
    assert cache.read_bytes() == before


def test_an_unreadable_cache_is_decoded_again_with_a_warning(digit_folder, tmp_path, caplog):
    dataset = dataset_of(digit_folder, tmp_path)
    first = dataset.load()["squares"]
    (tmp_path / "cache" / "decoded.npz").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        np.testing.assert_array_equal(dataset.load()["squares"], first)
    assert any("an unreadable cache" in message for message in caplog.messages)


def test_a_missing_or_empty_folder_says_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match=r"no folder of images at .*absent: put the images there or name their "
                                           r"folder with --params images.folder=<path>"):
        dataset_of(tmp_path / "absent", tmp_path).load()
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing here")
    with pytest.raises(DatasetError, match=r"empty: holds no image file \(.png .jpg"):
        dataset_of(tmp_path / "empty", tmp_path).load()
    assert not (tmp_path / "cache").exists()


def test_the_folder_dataset_is_read_only_and_checks_its_cache_size(digit_folder, tmp_path):
    with pytest.raises(DatasetError, match="read-only"):
        dataset_of(digit_folder, tmp_path).save({"squares": None})
    with pytest.raises(DatasetError, match="cache_size must be an integer of at least 8"):
        dataset_of(digit_folder, tmp_path, cache_size=4)


def test_new_images_are_any_file_or_folder_read_by_the_images_reader(digit_folder, tmp_path):
    with pytest.raises(DatasetError, match=r"no new images there; .*--params new_images="):
        NewImagesDataset(str(tmp_path / "absent"), format="images").load()
    new = NewImagesDataset(str(digit_folder), format="images").load()
    batches = new.batches(4)
    assert new.format == "images" and batches.total == 15
    first = next(batches)
    assert first.format == "images" and first.sources == ["digit 1/000.png", "digit 1/001.jpg", "digit 1/002.tif",
                                                          "digit 1/003.bmp"]
    assert [batch.sources for batch in batches][-1] == ["digit 7/stack.npy[2]", "digit 7/stack.npy[3]",
                                                        "digit 7/stack.npy[4]"]
