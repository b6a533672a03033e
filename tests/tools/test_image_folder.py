"""tools/image_folder.py: the folders behind the README's `images` numbers."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("image_folder", PROJECT_ROOT / "tools/image_folder.py")
image_folder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(image_folder)


def test_digits_are_turned_grey_pngs_in_class_folders(tmp_path, shared_data):
    out = tmp_path / "digits"
    image_folder.main(["digits", str(shared_data / "mnist"), str(out), "--start", "0", "--count", "30"])
    files = sorted(out.glob("*/*.png"))
    assert len(files) == 30 and {f.parent.name for f in files} <= {str(d) for d in range(10)}
    with Image.open(files[0]) as image:
        assert image.mode == "L" and image.size == (40, 40)
    # the same seed turns the same digit by the same angle; another seed does not
    again, _ = image_folder.digit_images(shared_data / "mnist", 0, 3, 40, seed=0)
    other, _ = image_folder.digit_images(shared_data / "mnist", 0, 3, 40, seed=1)
    (first,) = out.glob("*/00000.png")
    assert np.array_equal(np.asarray(Image.open(first)), again[0])
    assert not np.array_equal(again, other)


def test_wafers_are_coloured_pngs_of_their_failure_types(tmp_path, shared_data):
    out = tmp_path / "wafers"
    image_folder.main(["wafers", str(shared_data / "wm811k" / "LSWMD_sample.pkl"), str(out), "--size", "32"])
    files = sorted(out.glob("*/*.png"))
    assert files and "none" not in {f.parent.name for f in files}
    pixels = np.asarray(Image.open(files[0]))
    assert pixels.shape == (32, 32, 3)
    palette = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in image_folder.DIE_COLOURS}
    assert {tuple(p) for p in pixels.reshape(-1, 3)} <= palette


def test_a_folder_that_holds_files_is_not_overwritten(tmp_path, shared_data):
    (tmp_path / "kept.txt").write_text("mine")
    with pytest.raises(ValueError, match="exists and is not empty"):
        image_folder.main(["digits", str(shared_data / "mnist"), str(tmp_path), "--count", "2"])
    assert (tmp_path / "kept.txt").read_text() == "mine"
