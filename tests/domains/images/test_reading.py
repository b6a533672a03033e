"""Listing a folder, its labels, and decoding every format and mode to one gray channel;
each kind of bad input is one error naming the file, or a skip counted in one warning."""

import logging
import os

import numpy as np
import pytest
from PIL import Image

from irl_inr.domains.images import reading
from irl_inr.domains.images.reading import ImageFileError, class_names, frame_count, list_folder, read_frames
from tests.domains.images.folders import coloured, mnist_digits, wafer_maps, write_image


def gray_of(path, frame=0):
    ((gray, mode),) = list(read_frames(path, [frame]))
    return gray, mode


@pytest.fixture(scope="module")
def digit(shared_data) -> np.ndarray:
    return mnist_digits(shared_data, 1)[0][0]


def test_gray_png_bmp_and_a_16_bit_tiff_scale_to_0_1_exactly(tmp_path, digit):
    for name, pixels, scale, mode in [
        ("d.png", digit, 255, "L"), ("d.bmp", digit, 255, "L"),
        ("d.tif", digit.astype(np.uint16) * 257, 65535, "I;16"), ("d16.png", digit.astype(np.uint16) * 257, 65535,
                                                                   "I;16"),
    ]:
        gray, stored = gray_of(write_image(tmp_path / name, pixels))
        assert stored == mode and gray.dtype == np.float32 and gray.shape == (28, 28), name
        np.testing.assert_array_equal(gray, pixels.astype(np.float32) / np.float32(scale))
        np.testing.assert_allclose(gray, digit / 255.0, atol=1e-6)


def test_colour_turns_into_its_luminance_and_alpha_is_composited_on_black(tmp_path, digit):
    rgb = coloured(digit)
    luminance = rgb @ np.array([0.299, 0.587, 0.114]) / 255.0
    gray, mode = gray_of(write_image(tmp_path / "c.png", rgb))
    assert mode == "RGB"
    np.testing.assert_allclose(gray, luminance, atol=1e-6)
    half = np.dstack([rgb, np.full(digit.shape, 128, np.uint8)])
    gray, mode = gray_of(write_image(tmp_path / "a.png", half))
    assert mode == "RGBA"
    np.testing.assert_allclose(gray, luminance * 128 / 255, atol=1e-6)
    palette = Image.fromarray(rgb).quantize(64)
    palette.save(tmp_path / "p.png")
    gray, mode = gray_of(tmp_path / "p.png")
    assert mode == "P"
    np.testing.assert_allclose(gray, np.asarray(palette.convert("RGB")) @ np.array([0.299, 0.587, 0.114]) / 255,
                               atol=1e-6)
    gray, mode = gray_of(write_image(tmp_path / "c.jpg", rgb))
    assert mode == "RGB" and np.abs(gray - luminance).mean() < 0.03  # JPEG is lossy


def test_a_photo_is_turned_upright_as_its_exif_orientation_says(tmp_path, digit):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: stored turned, shown rotated 90 degrees clockwise
    Image.fromarray(digit[:, :20]).save(tmp_path / "turned.jpg", exif=exif, quality=100)
    gray, mode = gray_of(tmp_path / "turned.jpg")
    assert mode == "L" and gray.shape == (20, 28)
    np.testing.assert_allclose(gray, np.rot90(digit[:, :20], -1) / 255, atol=0.05)


def test_npy_images_and_stacks_keep_their_frames_and_scale_by_dtype(tmp_path, shared_data):
    digits = mnist_digits(shared_data, 3)[0]
    stack = write_image(tmp_path / "s.npy", digits)
    assert frame_count(stack) == 3
    frames = list(read_frames(stack, [2, 0]))
    np.testing.assert_array_equal(frames[0][0], digits[2] / np.float32(255))
    assert frames[1][1] == "npy uint8"
    wafer = wafer_maps(shared_data, 1)[0].astype(np.float64) / 254
    single = write_image(tmp_path / "w.npy", wafer)
    assert frame_count(single) == 1
    gray, mode = gray_of(single)
    assert mode == "npy float64" and gray.shape == wafer.shape
    np.testing.assert_allclose(gray, wafer, rtol=1e-6)


@pytest.mark.parametrize(("pixels", "problem"), [
    (np.zeros((2, 3, 4, 5), np.uint8), r"holds an array of shape \(2, 3, 4, 5\); images are \(H, W\) or \(N, H, W\)"),
    (np.zeros((3, 0, 4), np.uint8), r"holds an array of shape \(3, 0, 4\)"),
    (np.zeros((0, 5, 4), np.uint8), r"holds an array of shape \(0, 5, 4\)"),
    (np.array([["a"]]), r"holds <U1 values; images are numbers"),
])
def test_an_npy_file_that_holds_no_image_is_an_error_naming_it(tmp_path, pixels, problem):
    path = write_image(tmp_path / "bad.npy", pixels)
    with pytest.raises(ImageFileError, match=rf"bad.npy: {problem}"):
        frame_count(path)


def test_the_listing_ignores_hidden_entries_and_counts_what_it_skips_in_one_warning(tmp_path, digit, caplog):
    write_image(tmp_path / "a.png", digit)
    write_image(tmp_path / ".hidden.png", digit)
    write_image(tmp_path / ".cache" / "b.png", digit)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "run.log").write_text("")
    with caplog.at_level(logging.WARNING):
        listing = list_folder(tmp_path)
        listing.warn_skipped()
    assert listing.files == ("a.png",) and not listing.labels_csv
    (line,) = caplog.messages
    assert "skipped 2 entries that are not an image" in line and "notes.txt" in line and "run.log" in line
    assert class_names(listing) == {"a.png": None}


def test_class_folders_label_their_images_by_name_spaces_and_all(tmp_path, digit):
    for name in ("tall cats", "dogs", "a b"):
        write_image(tmp_path / name / "1.png", digit)
        write_image(tmp_path / name / "2.jpg", coloured(digit))
    write_image(tmp_path / "dogs" / "deeper" / "3.png", digit)  # below a class folder: skipped
    listing = list_folder(tmp_path)
    assert listing.skipped == ("dogs/deeper/",)
    classes = class_names(listing)
    assert list(classes) == ["a b/1.png", "a b/2.jpg", "dogs/1.png", "dogs/2.jpg", "tall cats/1.png", "tall cats/2.jpg"]
    assert set(classes.values()) == {"tall cats", "dogs", "a b"}


def test_images_both_in_the_folder_and_in_class_folders_are_an_error(tmp_path, digit):
    write_image(tmp_path / "loose.png", digit)
    write_image(tmp_path / "cats" / "1.png", digit)
    with pytest.raises(ImageFileError, match=r"both in itself \(loose.png\) and in subfolders \(cats/1.png\)"):
        class_names(list_folder(tmp_path))


def test_labels_csv_labels_the_images_it_names_and_leaves_out_the_rest(tmp_path, digit, caplog):
    for name in ("a.png", "b.png", "c.png", "sub/d.png"):
        write_image(tmp_path / name, digit)
    (tmp_path / "labels.csv").write_text("file,label,comment\na.png,round thing,x\nsub/d.png,7,\nb.png,7,\n")
    with caplog.at_level(logging.WARNING):
        classes = class_names(list_folder(tmp_path))
    assert classes == {"a.png": "round thing", "b.png": "7", "sub/d.png": "7"}
    (line,) = caplog.messages
    assert "left out 1 image file(s) that labels.csv does not name: c.png" in line


@pytest.mark.parametrize(("text", "message"), [
    ("name,label\na.png,1\n", r"labels.csv, line 1: no column 'file' \(columns: \['name', 'label'\]\)"),
    ("file\na.png\n", r"labels.csv, line 1: no column 'label'"),
    ("file,label\na.png,1\nmissing.png,2\n", r"labels.csv, line 3: 'missing.png' is not an image file of"),
    ("file,label\na.png,1\na.png,2\n", r"labels.csv, line 3: 'a.png' is listed again \(first on line 2\)"),
    ("file,label\na.png,\n", r"labels.csv, line 2: the label cell is empty"),
    ("", r"labels.csv, line 1: no column 'file' or 'label'"),
])
def test_a_bad_labels_csv_is_an_error_naming_it_and_the_row(tmp_path, digit, text, message):
    write_image(tmp_path / "a.png", digit)
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(ImageFileError, match=message):
        class_names(list_folder(tmp_path))


def test_a_truncated_or_empty_or_undecodable_image_is_an_error_naming_it(tmp_path, digit):
    whole = write_image(tmp_path / "whole.jpg", coloured(digit)).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.bmp").write_text("not a bitmap")
    (tmp_path / "empty.npy").write_bytes(b"")
    for name, problem in [("cut.jpg", r"not a readable image \((?i:.*truncated)"), ("empty.png", r"is empty \(0 bytes\)"),
                          ("text.bmp", r"not a readable image \(cannot identify"), ("empty.npy", r"is empty \(0 bytes\)")]:
        with pytest.raises(ImageFileError, match=rf"{name}: {problem}"):
            list(read_frames(tmp_path / name, [0]) if name != "empty.npy" else [frame_count(tmp_path / name)])


def test_an_unreadable_file_is_an_error_naming_it(tmp_path, digit, monkeypatch):
    path = write_image(tmp_path / "locked.png", digit)
    path.chmod(0)
    if os.geteuid() == 0:  # root reads any file: the denial is simulated where the file is opened
        def denied(file):
            raise ImageFileError(f"{file}: cannot be read (Permission denied)")
        monkeypatch.setattr(reading, "open_file", denied)
    try:
        with pytest.raises(ImageFileError, match=r"locked.png: cannot be read \(Permission denied\)"):
            reading.file_sha256(path)
        with pytest.raises(ImageFileError, match=r"locked.png: cannot be read \(Permission denied\)"):
            list(read_frames(path, [0]))
    finally:
        path.chmod(0o644)


def test_symbolic_link_loops_and_dangling_links_are_errors_naming_them(tmp_path, digit):
    folder = tmp_path / "images"
    write_image(folder / "cats" / "1.png", digit)
    (folder / "self.png").symlink_to(folder / "self.png")
    with pytest.raises(ImageFileError, match=r"self.png: a symbolic link loop"):
        list_folder(folder)
    (folder / "self.png").unlink()
    (folder / "cats" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ImageFileError, match=r"cats/gone.png: a symbolic link to nothing"):
        list_folder(folder)
    (folder / "cats" / "gone.png").unlink()
    (folder / "again").symlink_to(folder)
    with pytest.raises(ImageFileError, match=r"again: a symbolic link loop \(it leads back to"):
        list_folder(folder)
    (folder / "again").unlink()
    (folder / "cats" / "up").symlink_to(tmp_path)  # below a class folder: not followed, skipped
    assert list_folder(folder).skipped == ("cats/up/",)


def test_a_missing_folder_or_a_file_in_its_place_is_an_error(tmp_path, digit):
    with pytest.raises(ImageFileError, match=r"no folder at .*nothing"):
        list_folder(tmp_path / "nothing")
    with pytest.raises(ImageFileError, match=r"a.png: is a file, not a folder of images"):
        list_folder(write_image(tmp_path / "a.png", digit))
