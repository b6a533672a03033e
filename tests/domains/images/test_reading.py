"""Listing a folder, its labels, and decoding every format and mode, gray to one channel and
colour to three; each kind of bad input is one error naming the file, or a skip counted in
one warning."""

import errno
import io
import logging

import numpy as np
import pytest
from PIL import Image

from irl_inr.domains.images import reading
from irl_inr.domains.images.reading import (
    ImageFileError,
    class_names,
    frame_count,
    holds_colour,
    list_folder,
    read_frames,
)
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


def test_colour_keeps_its_channels_and_alpha_is_composited_on_black(tmp_path, digit):
    rgb = coloured(digit)
    channels = np.moveaxis(rgb, -1, 0) / np.float32(255)
    pixels, mode = gray_of(write_image(tmp_path / "c.png", rgb))
    assert mode == "RGB" and pixels.dtype == np.float32 and pixels.shape == (3, 28, 28)
    np.testing.assert_array_equal(pixels, channels.astype(np.float32))
    half = np.dstack([rgb, np.full(digit.shape, 128, np.uint8)])
    pixels, mode = gray_of(write_image(tmp_path / "a.png", half))
    assert mode == "RGBA"
    np.testing.assert_allclose(pixels, channels * 128 / 255, atol=1e-6)
    palette = Image.fromarray(rgb).quantize(64)
    palette.save(tmp_path / "p.png")
    pixels, mode = gray_of(tmp_path / "p.png")
    assert mode == "P" and holds_colour(tmp_path / "p.png")
    np.testing.assert_allclose(pixels, np.moveaxis(np.asarray(palette.convert("RGB")), -1, 0) / 255, atol=1e-6)
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95, subsampling=0)  # colour at full resolution
    pixels, mode = gray_of(tmp_path / "c.jpg")
    assert mode == "RGB" and np.abs(pixels - channels).mean() < 0.03  # JPEG is lossy
    assert all(holds_colour(tmp_path / name) for name in ("c.png", "a.png", "c.jpg"))


def test_gray_with_alpha_and_a_palette_of_grays_are_gray_as_their_luminance(tmp_path, digit):
    Image.fromarray(np.dstack([digit, np.full(digit.shape, 200, np.uint8)]), "LA").save(tmp_path / "la.png")
    gray, mode = gray_of(tmp_path / "la.png")
    assert mode == "LA" and gray.shape == (28, 28) and not holds_colour(tmp_path / "la.png")
    np.testing.assert_allclose(gray, digit / 255 * 200 / 255, atol=1e-6)
    grays = Image.fromarray(np.dstack([digit] * 3)).quantize(32)  # a palette image whose colours are all gray
    grays.save(tmp_path / "grays.png")
    gray, mode = gray_of(tmp_path / "grays.png")
    assert mode == "P" and gray.shape == (28, 28) and not holds_colour(tmp_path / "grays.png")
    np.testing.assert_allclose(gray, np.asarray(grays.convert("L")) / 255, atol=1 / 255)
    assert not holds_colour(write_image(tmp_path / "l.png", digit))
    assert not holds_colour(write_image(tmp_path / "d.tif", digit.astype(np.uint16) * 257))


def test_a_photo_is_turned_upright_as_its_exif_orientation_says(tmp_path, digit):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: stored turned, shown rotated 90 degrees clockwise
    Image.fromarray(digit[:, :20]).save(tmp_path / "turned.jpg", exif=exif, quality=100)
    gray, mode = gray_of(tmp_path / "turned.jpg")
    assert mode == "L" and gray.shape == (20, 28)
    np.testing.assert_allclose(gray, np.rot90(digit[:, :20], -1) / 255, atol=0.05)


def test_a_gray_images_transparent_value_is_composited_on_black(tmp_path, digit):
    Image.fromarray(digit).save(tmp_path / "keyed.png", transparency=int(digit.max()))
    gray, mode = gray_of(tmp_path / "keyed.png")
    assert mode == "L"
    np.testing.assert_array_equal(gray, np.where(digit == digit.max(), 0, digit / np.float32(255)).astype(np.float32))


def test_a_multi_page_tiff_is_read_by_its_first_page_with_a_warning_naming_it(tmp_path, caplog):
    pages = [Image.fromarray(np.full((9, 9), value, np.uint8)) for value in (51, 204)]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    with caplog.at_level(logging.WARNING):
        gray, _ = gray_of(tmp_path / "pages.tif")
    np.testing.assert_array_equal(gray, np.full((9, 9), np.float32(51) / np.float32(255)))
    assert "pages.tif: holds 2 frames (pages); only the first is read" in caplog.text


def test_a_damaged_exif_block_is_an_error_naming_the_file_not_a_traceback(tmp_path, digit):
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "camera", 6  # Make (the first entry), Orientation
    encoded = io.BytesIO()
    Image.fromarray(digit).save(encoded, "JPEG", exif=exif)
    data = bytearray(encoded.getvalue())
    first_tag = data.index(b"Exif\x00\x00") + 6 + 10  # after the TIFF header (8 bytes) and the entry count (2)
    assert data[first_tag:first_tag + 2] == b"\x01\x0f"  # Make, big-endian
    data[first_tag + 1] = 0  # now ImageWidth (0x0100) holding text: Pillow raises struct.error turning the photo
    (tmp_path / "damaged.jpg").write_bytes(bytes(data))
    with pytest.raises(ImageFileError, match=r"damaged.jpg: not a readable image \(.+\)"):
        gray_of(tmp_path / "damaged.jpg")


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
    for pixels in (np.eye(9, dtype=bool), np.full((9, 9), -300, np.int16), np.full((9, 9), 7.5, np.float32)):
        gray, mode = gray_of(write_image(tmp_path / "kept.npy", pixels))
        assert mode == f"npy {pixels.dtype.name}"
        np.testing.assert_array_equal(gray, pixels.astype(np.float32))  # kept as they are: normalised later


def test_npy_colour_images_and_stacks_keep_their_channels_and_composite_alpha(tmp_path, shared_data):
    digits = mnist_digits(shared_data, 2)[0]
    rgb = np.stack([coloured(digit) for digit in digits])  # (2, 28, 28, 3)
    single = write_image(tmp_path / "one.npy", rgb[0])
    assert frame_count(single) == 1 and holds_colour(single)
    pixels, mode = gray_of(single)
    assert mode == "npy uint8" and pixels.shape == (3, 28, 28)
    np.testing.assert_array_equal(pixels, np.moveaxis(rgb[0], -1, 0) / np.float32(255))
    stack = write_image(tmp_path / "stack.npy", rgb)
    assert frame_count(stack) == 2 and holds_colour(stack)
    np.testing.assert_array_equal(gray_of(stack, 1)[0], np.moveaxis(rgb[1], -1, 0) / np.float32(255))
    translucent = np.dstack([rgb[0].astype(np.float32) / 255, np.full((28, 28), 0.5, np.float32)])  # float alpha
    pixels, _ = gray_of(write_image(tmp_path / "alpha.npy", translucent))
    np.testing.assert_allclose(pixels, np.moveaxis(rgb[0], -1, 0) / 255 * 0.5, rtol=1e-6)
    assert not holds_colour(write_image(tmp_path / "gray.npy", digits))


@pytest.mark.parametrize(("value", "problem"), [
    (np.nan, "holds NaN or infinite values"), (-np.inf, "holds NaN or infinite values"),
    (1e300, r"holds values beyond float32's range \(largest magnitude 1e\+300\)"),
])
def test_a_bad_value_in_an_npy_stack_is_an_error_naming_the_file_and_the_image(tmp_path, value, problem):
    stack = np.zeros((3, 9, 9))
    stack[2, 4, 4] = value
    path = write_image(tmp_path / "stack.npy", stack)
    assert len(list(read_frames(path, [0, 1]))) == 2
    with pytest.raises(ImageFileError, match=rf"stack.npy\[2\]: {problem}"):
        list(read_frames(path, [2]))


@pytest.mark.parametrize(("pixels", "problem"), [
    (np.zeros((2, 3, 4, 5), np.uint8), r"holds an array of shape \(2, 3, 4, 5\); images are gray \(H, W\) or "
                                       r"\(N, H, W\), or colour \(H, W, 3 or 4\) or \(N, H, W, 3 or 4\)"),
    (np.zeros((2, 3, 4, 5, 3), np.uint8), r"holds an array of shape \(2, 3, 4, 5, 3\)"),
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
    ("file,label\n", r"labels.csv: names no image \(a header row alone\)"),
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

    def denied(file, *args, **kwargs):  # the operating system's refusal (a chmod denies root nothing)
        raise PermissionError(errno.EACCES, "Permission denied", str(file))

    monkeypatch.setattr(reading, "open", denied, raising=False)  # the name open_file calls
    with pytest.raises(ImageFileError, match=r"locked.png: cannot be read \(Permission denied\)"):
        reading.file_sha256(path)
    with pytest.raises(ImageFileError, match=r"locked.png: cannot be read \(Permission denied\)"):
        list(read_frames(path, [0]))


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


def test_a_labels_csv_named_in_another_case_is_an_error_not_a_silent_skip(tmp_path, digit):
    write_image(tmp_path / "cats" / "1.png", digit)
    (tmp_path / "Labels.CSV").write_text("file,label\ncats/1.png,dog\n")
    with pytest.raises(ImageFileError, match=r"Labels.CSV: name it labels.csv \(lower case\)"):
        list_folder(tmp_path)


def test_a_missing_folder_or_a_file_in_its_place_is_an_error(tmp_path, digit):
    with pytest.raises(ImageFileError, match=r"no folder at .*nothing"):
        list_folder(tmp_path / "nothing")
    with pytest.raises(ImageFileError, match=r"a.png: is a file, not a folder of images"):
        list_folder(write_image(tmp_path / "a.png", digit))
