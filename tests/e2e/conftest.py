"""A scratch copy of the project for running the real ``kedro run`` without touching
the checkout's data/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COPIED = ["conf", "src", "pyproject.toml", ".telemetry", "dvc.yaml", "dvc.lock", ".dvc", ".dvcignore", ".gitignore"]


def copy_project(target: Path) -> Path:
    for name in COPIED:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
        elif source.exists():
            shutil.copy2(source, target / name)
    for layer in ("01_raw/mnist", "02_intermediate", "03_primary", "04_feature", "05_model_input",
                  "06_models", "07_model_output", "08_reporting"):
        (target / "data" / layer).mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROJECT_ROOT / "data/01_raw/mnist/README.md", target / "data/01_raw/mnist/README.md")
    return target


def project_env() -> dict[str, str]:
    """The environment of a scratch run. One thread per process, as Dask's workers run:
    float sums in another order (2 threads against 1) would change trained weights and so
    the metrics the runs are compared on; on 2 cores it is also the faster setting."""
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1", DVC_NO_ANALYTICS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_kedro(project: Path, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", *arguments],
        cwd=project, env=project_env(), capture_output=True, text=True, timeout=1200,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kedro run {' '.join(arguments)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path / "project")


# The default pipeline on 300 embedded digits with a tiny model.
TINY_RUN = """
mnist_u:
  ingestion:
    max_images: 300
  training:
    config: tiny
    checkpoint_dir: data/06_models/checkpoints
    progress: true
    configurations:
      tiny:
        model: {image_size: 50, latent_dim: 8, backbone: small_cnn, num_frequencies: 16,
                inr_hidden: [16], hypernetwork_hidden: [32]}
        optimisation: {epochs: 2, batch_size: 64, learning_rate: 1.0e-3, checkpoint_every: 3}
  embedding:
    invariance_images: 100
    invariance_poses: 2
"""


@pytest.fixture(scope="session")
def tiny_default_run(tmp_path_factory) -> Path:
    """A scratch project after one sequential ``kedro run`` of ``TINY_RUN`` (shared by the
    tests that check that run and those that compare other runners with it); its console
    output, stdout then stderr (a pipe, not a terminal), is in ``RUN_LOG`` beside it."""
    project = copy_project(tmp_path_factory.mktemp("tiny_default") / "project")
    (project / "conf/local/parameters.yml").write_text(TINY_RUN)
    result = run_kedro(project)
    (project.parent / RUN_LOG).write_text(result.stdout + result.stderr)
    return project


RUN_LOG = "kedro_run.log"
