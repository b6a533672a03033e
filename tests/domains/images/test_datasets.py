"""The folder dataset: a mix of formats and sizes decoded once into a cache directory keyed
by the files' content, written whole under a temporary name and read memory-mapped;
errors (and interruptions) that name the folder or file and leave the cache as it was;
and the dataset of new images for images_predict."""

import errno
import json
import logging

import numpy as np
import pytest
from kedro.io.core import DatasetError

from irl_inr.domains.images import cache
from irl_inr.datasets.new_images import NewImagesDataset
from irl_inr.domains.images.datasets import ImageFolderDataset
from irl_inr.domains.images.front_end import to_square
from tests.domains.images.folders import coloured, digits_of, wafer_maps, write_class_folders, write_image


@pytest.fixture
def digit_folder(tmp_path, shared_data):
    """Three classes of 5 digits in every format ('digit 7' as one .npy stack)."""
    return write_class_folders(tmp_path / "digits", digits_of(shared_data, [1, 3, 7], 5), stack_class=7)


def dataset_of(folder, tmp_path, cache_size=32) -> ImageFolderDataset:
    return ImageFolderDataset(str(folder), str(tmp_path / "cache" / "decoded"), cache_size=cache_size)


def cache_entries(tmp_path) -> list[str]:
    return sorted(entry.name for entry in (tmp_path / "cache" / "decoded").iterdir())


def test_a_folder_of_every_format_loads_as_squares_with_one_row_per_image(digit_folder, tmp_path):
    loaded = dataset_of(digit_folder, tmp_path).load()
    squares, table = loaded["squares"], loaded["table"]
    assert squares.shape == (15, 3, 32, 32) and squares.dtype == np.float32 and loaded["source"] == str(digit_folder)
    assert isinstance(squares, np.memmap) and not squares.flags.writeable  # read from the cache, not loaded whole
    assert table.columns.tolist() == ["file", "frame", "mode", "colour", "height", "width", "class_name"]
    assert table["class_name"].tolist() == ["digit 1"] * 5 + ["digit 3"] * 5 + ["digit 7"] * 5
    assert table["mode"].tolist()[:5] == ["L", "RGB", "I;16", "RGB", "RGBA"]
    assert table["colour"].tolist()[:5] == [False, True, False, True, True] and not table["colour"][10:].any()
    assert table["file"].tolist()[-5:] == ["digit 7/stack.npy"] * 5 and table["frame"].tolist()[-5:] == [0, 1, 2, 3, 4]
    assert (table["height"] == 28).all() and (table["width"] == 28).all()
    assert squares.min() >= 0 and squares.max() <= 1 and (squares.reshape(15, -1).max(1) > 0.5).all()
    gray = squares[~table["colour"].to_numpy()]
    np.testing.assert_array_equal(gray[:, 1], gray[:, 0])  # gray images: three equal channels
    np.testing.assert_array_equal(gray[:, 2], gray[:, 0])
    (key,) = cache_entries(tmp_path)
    assert sorted(path.name for path in (tmp_path / "cache" / "decoded" / key).iterdir()) == [
        "key.json", "squares.npy", "table.parquet"]
    record = json.loads((tmp_path / "cache" / "decoded" / key / "key.json").read_text())
    assert record["key"] == key and record["channels"] == "colour" and (record["files"], record["images"]) == (11, 15)


def test_a_gray_folder_is_cached_in_one_channel(tmp_path, shared_data):
    digits = digits_of(shared_data, [2], 3)[2]
    for index, digit in enumerate(digits):
        write_image(tmp_path / "gray" / f"{index}.{('png', 'bmp', 'npy')[index]}", digit)
    loaded = dataset_of(tmp_path / "gray", tmp_path).load()
    assert loaded["squares"].shape == (3, 32, 32) and not loaded["table"]["colour"].any()
    np.testing.assert_array_equal(loaded["squares"][0], to_square(digits[0] / np.float32(255), 32))


def test_images_of_many_sizes_unlabelled_share_one_cache_size(tmp_path, shared_data):
    maps = wafer_maps(shared_data, 6)
    for index, states in enumerate(maps):
        write_image(tmp_path / "wafers" / f"w{index}.{'png' if index % 2 else 'tiff'}", coloured(states, "plasma"))
    loaded = dataset_of(tmp_path / "wafers", tmp_path, cache_size=16).load()
    table = loaded["table"]
    assert loaded["squares"].shape == (6, 3, 16, 16) and table["class_name"].isna().all()
    assert list(zip(table["height"], table["width"])) == [states.shape for states in maps]


def test_a_later_load_reads_the_cache_and_a_changed_file_is_decoded_again(digit_folder, tmp_path, monkeypatch):
    dataset = dataset_of(digit_folder, tmp_path)
    first = dataset.load()
    decode = cache.decode_folder

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(cache, "decode_folder", no_decoding)
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
    monkeypatch.setattr(cache, "decode_folder", decode)
    np.testing.assert_allclose(dataset.load()["squares"][0, 0], to_square(np.ones((28, 28), np.float32), 32),
                               rtol=1e-6)
    assert len(cache_entries(tmp_path)) == 1  # the earlier cache removed, no temporary folder left behind


def decoding_count(monkeypatch) -> list[int]:
    """Counts the images ``decode_folder`` decodes from now on (one entry per call)."""
    calls, decode = [], cache.decode_folder

    def counted(directory, folder, files, cache_size):
        summary = decode(directory, folder, files, cache_size)
        calls.append(summary["images"])
        return summary

    monkeypatch.setattr(cache, "decode_folder", counted)
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
    key = cache.cache_key(files, 32)
    assert key == cache.cache_key(dict(files), 32)
    assert key != cache.cache_key(files, 16)
    assert key != cache.cache_key(dict(reversed(files.items())), 32)
    assert key != cache.cache_key({**files, "b.png": "3" * 64}, 32)
    monkeypatch.setattr(cache.PIL, "__version__", "0.0.1")
    assert key != cache.cache_key(files, 32)


def test_another_cache_size_decodes_again(digit_folder, tmp_path):
    dataset_of(digit_folder, tmp_path, cache_size=32).load()
    assert dataset_of(digit_folder, tmp_path, cache_size=16).load()["squares"].shape[-1] == 16
    assert len(cache_entries(tmp_path)) == 1


def cache_contents(tmp_path) -> dict[str, bytes]:
    return {str(path.relative_to(tmp_path)): path.read_bytes()
            for path in sorted((tmp_path / "cache").rglob("*")) if path.is_file()}


def test_a_bad_file_or_an_interruption_leaves_the_cache_as_it_was(digit_folder, tmp_path, monkeypatch):
    dataset = dataset_of(digit_folder, tmp_path)
    dataset.load()
    before = cache_contents(tmp_path)
    whole = (digit_folder / "digit 3" / "001.jpg").read_bytes()
    (digit_folder / "digit 3" / "001.jpg").write_bytes(whole[: len(whole) // 3])
    with pytest.raises(DatasetError, match=r"digit 3/001.jpg: not a readable image"):
        dataset.load()
    (digit_folder / "digit 3" / "001.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"digit 3/001.jpg: is empty \(0 bytes\)"):
        dataset.load()
    assert cache_contents(tmp_path) == before
    write_image(digit_folder / "digit 3" / "001.jpg", np.zeros((28, 28, 3), np.uint8))  # another file: decode again
    squares_written, to_square_of = [], cache.to_square

    def interrupted(pixels, size):  # Ctrl-C halfway through decoding
        if len(squares_written) == 5:
            raise KeyboardInterrupt
        squares_written.append(size)
        return to_square_of(pixels, size)

    monkeypatch.setattr(cache, "to_square", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dataset.load()
    assert cache_contents(tmp_path) == before  # no temporary folder left, the earlier cache whole


def test_a_full_disk_is_one_dataset_error_naming_the_cache_directory(digit_folder, tmp_path, monkeypatch):
    def full(self, square):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache.SquaresFile, "append", full)
    with pytest.raises(DatasetError, match=r"cache/decoded: cannot write the cache \(No space left on device\)"):
        dataset_of(digit_folder, tmp_path).load()
    assert cache_entries(tmp_path) == []  # nothing half-written left


def test_an_unreadable_cache_is_decoded_again_with_a_warning(digit_folder, tmp_path, caplog):
    dataset = dataset_of(digit_folder, tmp_path)
    first = np.array(dataset.load()["squares"])
    (key,) = cache_entries(tmp_path)
    for damaged, content in (("squares.npy", b"garbage"), ("key.json", b"{"), ("table.parquet", b"PAR1")):
        (tmp_path / "cache" / "decoded" / key / damaged).write_bytes(content)
        with caplog.at_level(logging.WARNING):
            np.testing.assert_array_equal(dataset.load()["squares"], first)
        assert any("an unreadable cache" in message for message in caplog.messages), damaged
        caplog.clear()
    assert cache_entries(tmp_path) == [key]


def test_an_earlier_versions_decoded_npz_is_left_alone_and_a_file_as_cache_dir_is_an_error(digit_folder, tmp_path):
    (tmp_path / "cache" / "decoded").mkdir(parents=True)
    old = tmp_path / "cache" / "decoded.npz"
    old.write_bytes(b"an earlier version's cache")
    (tmp_path / "cache" / "decoded" / "decoded.npz").write_bytes(b"or here")
    assert dataset_of(digit_folder, tmp_path).load()["squares"].shape == (15, 3, 32, 32)
    assert old.read_bytes() == b"an earlier version's cache" and "decoded.npz" in cache_entries(tmp_path)
    with pytest.raises(DatasetError, match=r"decoded.npz: is a file, not a cache directory \(images.raw_images "
                                           r"cache_dir"):
        ImageFolderDataset(str(digit_folder), str(old), cache_size=32).load()


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
