"""The real ``kedro run --pipelines images`` on a folder of 200 MNIST digits in five class
folders, in every format, gray and colour (so the set and the model are colour), with a
tiny model: it ends with its metrics and its report, and ``images_predict`` then assigns
new files of other formats, gray and colour. A folder that cannot be read stops the run
with one ERROR line naming it, before anything is written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.domains.images.folders import coloured, digits_of, write_class_folders, write_image
from tests.e2e.conftest import project, run_kedro  # noqa: F401  (the fixture, and the run)
from tests.e2e.test_domains import check_run, tiny_domain

OWN = """  ingestion:
    image_size: 32
    crop: pad
  augmentation:
    rotate: true
    max_shift_pixels: 1.5
"""
CLUSTERING = """  clustering:
    n_clusters: 5
    scan:
      optimisation: {epochs: 3, batch_size: 64}
    selflabel:
      optimisation: {epochs: 1, batch_size: 64}
    dti:
      optimisation: {epochs: 1}
"""


@pytest.mark.e2e
def test_a_folder_of_200_digits_in_every_format_runs_end_to_end_and_predicts_new_files(project, shared_data):
    digits = digits_of(shared_data, [0, 1, 4, 7, 9], 44)
    folder = write_class_folders(project.parent / "my digits", {label: group[:40] for label, group in digits.items()},
                                 stack_class=4)
    (project / "conf/local/parameters.yml").write_text(tiny_domain("images", OWN, size=32, shift=1.5) + CLUSTERING)
    result = run_kedro(project, "--pipelines", "images", "--params", f"images.folder={folder}")
    metrics = check_run(project, "images", images=200)
    assert 0.2 <= metrics["images.scan.acc"] <= 1.0 and isinstance(metrics["images.pose_error_vs_truth_deg"], float)
    assert "images: 200 images (160 train), 5 label classes" in result.stdout + result.stderr
    table = pd.read_parquet(project / "data/03_primary/images/image_table.parquet")
    assert sorted(table["label_name"].unique()) == ["digit 0", "digit 1", "digit 4", "digit 7", "digit 9"]
    assert {"L", "RGB", "I;16", "RGBA", "npy uint8"} <= set(table["mode"])
    assert np.load(project / "data/03_primary/images/images.npy", mmap_mode="r").shape == (200, 3, 32, 32)
    assert (project / "data/08_reporting/images/preview.png").exists()
    (cache,) = (project / "data/02_intermediate/images/decoded").iterdir()  # one cache, named by its key
    assert sorted(path.name for path in cache.iterdir()) == ["key.json", "squares.npy", "table.parquet"]

    new = project.parent / "new"
    write_image(new / "zero.jpg", coloured(digits[0][40]))
    write_image(new / "one.tif", digits[1][40].astype(np.uint16) * 257)
    write_image(new / "more" / "pair.npy", np.stack([digits[7][40], digits[9][40]]))
    write_image(new / "four.bmp", digits[4][40])
    run_kedro(project, "--pipelines", "images_predict", "--params", f"new_images={new}")
    predictions = pd.read_parquet(project / "data/07_model_output/images/predictions.parquet")
    assert predictions["source"].tolist() == ["four.bmp", "more/pair.npy[0]", "more/pair.npy[1]", "one.tif", "zero.jpg"]
    assert predictions["cluster"].between(0, 4).all() and predictions["confidence"].between(0, 1).all()
    # the folder holds colour files, so the set is colour (channels: auto) and so is the model; the gray new
    # images are copied to three channels, the colour JPEG kept in colour
    assert np.load(project / "data/07_model_output/images/new_canonical_images.npy").shape == (5, 3, 32, 32)


def error_line(result) -> str:
    """The run failed with exactly one ERROR line and no traceback; that line."""
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output[-3000:]
    (line,) = [line for line in output.splitlines() if " ERROR " in line]
    return line


@pytest.mark.e2e
def test_a_missing_folder_or_a_truncated_image_stops_the_run_with_one_error_line(project, shared_data):
    line = error_line(run_kedro(project, "--pipelines", "images", check=False))
    assert "no folder of images at data/01_raw/images: put the images there or name their folder with --params " \
           "images.folder=<path>" in line
    folder = write_class_folders(project.parent / "digits", digits_of(shared_data, [2, 5], 5))
    whole = (folder / "digit 5" / "001.jpg").read_bytes()
    (folder / "digit 5" / "001.jpg").write_bytes(whole[: len(whole) // 2])
    line = error_line(run_kedro(project, "--pipelines", "images", "--params", f"images.folder={folder}", check=False))
    assert "digit 5/001.jpg: not a readable image" in line
    assert [path for path in (project / "data").rglob("*") if path.is_file() and path.name != "README.md"] == []
