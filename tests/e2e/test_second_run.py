"""A newcomer's second run (issue #29), replayed with the real ``kedro run`` on a few
hundred images: a rerun on other data trains anew instead of failing halfway; a misspelt
section, too few images or a label set that does not fit stop the run with one ERROR line
before anything is written; an unlabelled particle stack runs end to end with the
defaults; a run's log holds one line per epoch, not progress-bar redraws."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import RUN_LOG, run_kedro
from tests.domains.wm811k.wafers import wafer_frame, write_python2_style_pickle

IDX_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def files(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` and its bytes."""
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def one_error_line(result) -> str:
    """The run failed with exactly one ERROR line and no traceback; that line."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    (line,) = [line for line in output.splitlines() if " ERROR " in line]
    return line


@pytest.fixture
def second_run(tiny_default_run, tmp_path) -> Path:
    """A copy of the project after the tiny default run (checkpoints, outputs and all)."""
    project = tmp_path / "project"
    shutil.copytree(tiny_default_run, project)
    return project


# --- reruns on other data ----------------------------------------------------------------


@pytest.mark.e2e
def test_a_rerun_on_the_mnist_idx_files_trains_anew_and_finishes(second_run, shared_data):
    """`make run`, then the (un-gzipped) MNIST test IDX files in data/01_raw/mnist/ and run
    again: other images of the same shape get their own IRL-INR checkpoint and the whole
    run ends with their metrics, instead of a checkpoint mismatch after ingestion and DTI
    had rewritten their outputs."""
    checkpoints = second_run / "data/06_models/checkpoints"
    first = set(checkpoints.glob("irl_inr-tiny-*.pt"))
    for name in IDX_FILES:
        raw = gzip.decompress((shared_data / "mnist" / f"{name}.gz").read_bytes())
        (second_run / "data/01_raw/mnist" / name).write_bytes(raw)
    run_kedro(second_run)
    assert len(set(checkpoints.glob("irl_inr-tiny-*.pt")) - first) == 1
    table = pd.read_parquet(second_run / "data/03_primary/mnist_u/image_table.parquet")
    assert len(table) == 300 and table["source"].iloc[0].endswith("/t10k-images-idx3-ubyte")
    metrics = json.loads((second_run / "data/08_reporting/mnist_u/metrics.json").read_text())
    assert metrics["mnist_u.images"] == 300 and isinstance(metrics["mnist_u.scan.acc"], float)


@pytest.mark.e2e
def test_a_rerun_with_another_augmentation_seed_trains_anew(second_run):
    checkpoints = second_run / "data/06_models/checkpoints"
    first = set(checkpoints.glob("irl_inr-tiny-*.pt"))
    result = run_kedro(second_run, "--to-nodes", "mnist_u.train_irl_inr", "--params", "mnist_u.augmentation.seed=1")
    assert len(set(checkpoints.glob("irl_inr-tiny-*.pt")) - first) == 1
    assert "Training IRL-INR (tiny) on 300 images" in result.stdout + result.stderr


@pytest.mark.e2e
def test_a_checkpoint_that_cannot_be_resumed_stops_the_run_before_anything_changes(second_run):
    """A checkpoint that is still refused (here: truncated) is found right after the
    images are made, before any node writes what differs, and the one error line names the
    parameter to change."""
    (checkpoint,) = (second_run / "data/06_models/checkpoints").glob("irl_inr-tiny-*.pt")
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    before = files(second_run / "data")
    line = one_error_line(run_kedro(second_run, check=False))
    assert "mnist_u.training.checkpoint_dir = 'data/06_models/checkpoints'" in line
    assert "set mnist_u.training.checkpoint_dir to another folder" in line
    assert files(second_run / "data") == before


# --- typos ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "message"),
    [
        ("trainig.config=paper", "trainig: unknown parameter section (did you mean training?)"),
        ("mnist_u.ingestoin.max_images=50", "mnist_u.ingestoin: unknown parameter section (did you mean "
                                            "mnist_u.ingestion?)"),
    ],
)
def test_a_misspelt_section_stops_the_run_before_anything_is_written(project, typo, message):
    before = files(project / "data")
    line = one_error_line(run_kedro(project, "--params", typo, check=False))
    assert f"ERROR Bad parameter: {message}" in line
    assert files(project / "data") == before


# --- an unlabelled particle stack ---------------------------------------------------------


def particle_star(folder: Path, stack: Path, count: int) -> Path:
    """A RELION 3.0 STAR file of ``count`` particles of ``stack`` (its 100 images in turn),
    with no angles: nothing to label the particles by."""
    rows = "\n".join(f"{index % 100 + 1:06d}@{stack}" for index in range(count))
    path = folder / f"particles_{count}.star"
    path.write_text(f"\ndata_\n\nloop_\n_rlnImageName #1\n{rows}\n")
    return path


@pytest.mark.e2e
def test_an_unlabelled_stack_of_300_particles_runs_end_to_end_with_the_defaults(project, shared_data):
    star = particle_star(project.parent, shared_data / "cryoem" / "hand.mrcs", 300)
    result = run_kedro(project, "--pipelines", "cryo_em_star", "--params", f"cryo_em_star={star}")
    assert "cryo_em: 300 images (240 train), unlabelled" in result.stdout + result.stderr
    metrics = json.loads((project / "data/08_reporting/cryo_em/metrics.json").read_text())
    assert metrics["cryo_em.images"] == 300 and "cryo_em.scan.acc" not in metrics
    interpretation = json.loads((project / "data/08_reporting/cryo_em/interpretation_metrics.json").read_text())
    assert "nll_train" in interpretation and "class_factor_accuracy_train" not in interpretation  # the plain flow
    (report,) = (project / "data/08_reporting/cryo_em/report.html").glob("*/report.html")
    assert "<img" in report.read_text()


def test_seven_particles_stop_the_run_with_the_least_number_of_images_before_anything_is_written(project, shared_data):
    star = particle_star(project.parent, shared_data / "cryoem" / "hand.mrcs", 7)
    line = one_error_line(run_kedro(project, "--pipelines", "cryo_em_star", "--params", f"cryo_em_star={star}",
                                    check=False))
    assert ("ERROR The images do not fit the parameters: cryo_em: too few images for these settings: 7 images, where "
            "they need at least 256 images.") in line
    assert "cryo_em.clustering.n_clusters = 8 needs 8 images" in line
    assert [path for path in (project / "data").rglob("*") if path.is_file() and path.name != "README.md"] == []


# --- wafer maps that do not fit -----------------------------------------------------------


def wafer_files(project: Path) -> list[str]:
    """The files a WM-811K run has left under data/, but its conversion cache (written by
    the raw dataset as it reads the pickle, before any node runs)."""
    return sorted(str(path.relative_to(project)) for path in (project / "data").rglob("*")
                  if path.is_file() and path.name not in ("README.md", "wafers.parquet"))


def test_an_unknown_failure_type_is_one_error_line_naming_the_file_and_row(project):
    types = ["Center", "Donut", "Edge-Loc", "Edge-Ring", "Loc", "Random", "Scratch"] * 3
    types[4] = "Blob"
    pickle = write_python2_style_pickle(wafer_frame(types), project.parent / "LSWMD_blob.pkl")
    line = one_error_line(run_kedro(project, "--pipelines", "wm811k", "--params", f"wm811k_pickle={pickle}",
                                    check=False))
    assert "ERROR The data cannot be used (node wm811k.ingest_wafers): " in line
    assert "LSWMD_blob.pkl: row 1028: unknown failure type 'Blob'" in line
    assert wafer_files(project) == []


def test_twenty_wafers_with_an_empty_map_leave_too_few_classes_before_anything_is_written(project):
    """One map of 20 holds no die and is dropped; the 4 failure types left do not fit the
    default 8 clusters: the error says so as the wafers are read, before die maps, images, preview
    or any model are written."""
    types = ["Center", "Donut", "Edge-Loc", "Edge-Ring"] * 5
    types[19] = "Scratch"
    shapes = [(26, 27)] * 19 + [(0, 0)]
    pickle = write_python2_style_pickle(wafer_frame(types, shapes=shapes), project.parent / "LSWMD_20.pkl")
    line = one_error_line(run_kedro(project, "--pipelines", "wm811k", "--params", f"wm811k_pickle={pickle}",
                                    check=False))
    assert ("ERROR The images do not fit the parameters: wm811k.clustering.n_clusters = 8: the labels of the 19 "
            "images of clustering.split = 'all'") in line
    assert "hold 4 classes [0, 1, 2, 3]: set n_clusters to 4" in line
    assert wafer_files(project) == []


# --- the log of a run ------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_log_of_a_run_whose_stderr_is_not_a_terminal_has_one_line_per_epoch(tiny_default_run):
    """`make run > run.log 2>&1`: no progress-bar redraws, one short line per epoch of
    each stage that trains (the tiny run asks for progress bars)."""
    log = (tiny_default_run.parent / RUN_LOG).read_text()
    assert "\r" not in log and max(len(line) for line in log.splitlines()) < 1000
    epochs = [line for line in log.splitlines() if " INFO epoch " in line]
    assert sum(" INFO epoch 1/2 (step " in line for line in epochs) >= 1  # IRL-INR's two epochs
    assert any(" INFO epoch 2/2 (step " in line for line in epochs)
