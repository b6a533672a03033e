"""`dvc repro` on a clean copy rebuilds every output with the hashes committed in dvc.lock."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import PROJECT_ROOT, project_env

# Stages whose outputs must come out byte for byte as recorded (the trained model and
# later stages depend on floating-point summation order and are checked by metrics).
BYTE_STABLE_STAGES = ("ingestion", "augmentation")


def run(command, cwd):
    result = subprocess.run(command, cwd=cwd, env=project_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_dvc_repro_rebuilds_mnist_u_byte_for_byte(project):
    lock = yaml.safe_load((PROJECT_ROOT / "dvc.lock").read_text())
    run(["git", "init", "-q"], project)
    dvc = str(Path(sys.executable).parent / "dvc")
    for stage in BYTE_STABLE_STAGES:
        run([dvc, "repro", "--single-item", stage], project)
    new_lock = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in BYTE_STABLE_STAGES:
        recorded = {out["path"]: out["md5"] for out in lock["stages"][stage]["outs"]}
        rebuilt = {out["path"]: out["md5"] for out in new_lock["stages"][stage]["outs"]}
        assert rebuilt == recorded, f"stage {stage} no longer reproduces the committed dvc.lock"


def test_dvc_knows_every_stage_and_runs_an_experiment_with_a_changed_parameter(project):
    """`dvc dag` holds every stage of dvc.yaml (`dvc repro --dry` needs the upstream
    outputs present, so the byte-for-byte test above is the repro); `dvc exp run -S` changes one
    parameter, reruns only what depends on it, and `dvc exp show` / `dvc params diff`
    report the change."""
    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    dvc = str(Path(sys.executable).parent / "dvc")
    identity = ["-c", "user.name=irl-inr tests", "-c", "user.email=tests@irl-inr.invalid"]
    run(["git", "init", "-q"], project)
    run(["git", *identity, "add", "-A"], project)
    run(["git", *identity, "commit", "-q", "-m", "baseline"], project)

    graph = run([dvc, "dag", "--md"], project)
    for stage in stages:
        assert stage in graph, f"dvc dag lacks stage {stage}:\n{graph}"

    env_identity = {"GIT_AUTHOR_NAME": "irl-inr tests", "GIT_AUTHOR_EMAIL": "tests@irl-inr.invalid",
                    "GIT_COMMITTER_NAME": "irl-inr tests", "GIT_COMMITTER_EMAIL": "tests@irl-inr.invalid"}
    result = subprocess.run(
        [dvc, "exp", "run", "--single-item", "ingestion", "-n", "fewer-digits",
         "-S", "conf/base/parameters_mnist_u.yml:mnist_u.ingestion.max_images=200"],
        cwd=project, env={**project_env(), **env_identity}, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    import pandas as pd

    assert len(pd.read_parquet(project / "data/02_intermediate/mnist_u/mnist_digit_table.parquet")) == 200
    shown = run([dvc, "exp", "show", "--json"], project)
    assert "fewer-digits" in shown
    diff = run([dvc, "params", "diff"], project)
    assert "mnist_u.ingestion.max_images" in diff and "200" in diff
