"""`dvc repro` on a clean copy rebuilds every output with the hashes committed in dvc.lock;
a tiny run pushed to a local remote comes back whole in a fresh clone."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import PROJECT_ROOT, project_env, run_kedro

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


# The tiny settings of the round trip, written into conf/base where DVC's params read them.
TINY_PARAMETERS = {
    "conf/base/parameters_mnist_u.yml": {"mnist_u": {"ingestion": {"max_images": 200}}},
    "conf/base/parameters_training.yml": {"training": {
        "config": "tiny", "progress": False,
        "configurations": {"tiny": {
            "model": {"image_size": 50, "latent_dim": 8, "backbone": "small_cnn", "num_frequencies": 16,
                      "inr_hidden": [16], "hypernetwork_hidden": [32]},
            "optimisation": {"epochs": 2, "batch_size": 64, "learning_rate": 1.0e-3, "checkpoint_every": 3}}}}},
    "conf/base/parameters_embedding.yml": {"embedding": {"invariance_images": 50, "invariance_poses": 2}},
    "conf/base/parameters_interpretation.yml": {"isometry": {"sample_size": 10}},
}
GIT_IDENTITY = ["-c", "user.name=irl-inr tests", "-c", "user.email=tests@irl-inr.invalid"]


def lay_over(settings: dict, changes: dict) -> dict:
    for key, value in changes.items():
        settings[key] = lay_over(settings.get(key) or {}, value) if isinstance(value, dict) else value
    return settings


def commit_everything(project, message):
    run(["git", "add", "-A"], project)
    run(["git", *GIT_IDENTITY, "commit", "-q", "-m", message], project)


@pytest.mark.e2e
def test_a_pushed_run_comes_back_in_a_fresh_clone_with_nothing_to_rerun(project, tmp_path):
    """Ingestion -> embedding on 200 digits through DVC, pushed to a local remote; a fresh
    clone sees the committed metrics before pulling, and after `dvc pull` has every
    output, so `dvc status` is clean and `dvc repro` runs no stage. Rerunning training
    changes no git-tracked file: its seconds are in the untracked timings file."""
    dvc = str(Path(sys.executable).parent / "dvc")
    for name, changes in TINY_PARAMETERS.items():
        path = project / name
        path.write_text(yaml.safe_dump(lay_over(yaml.safe_load(path.read_text()), changes)))
    run(["git", "init", "-q"], project)
    commit_everything(project, "tiny settings")
    run([dvc, "repro", "embedding"], project)
    tracked = run(["git", "status", "--porcelain", "--untracked-files=all"], project)
    assert "data/08_reporting/mnist_u/training_history.csv" in tracked
    assert "data/08_reporting/mnist_u/embedding_metrics.json" in tracked
    assert "_timings" not in tracked and ".pt" not in tracked and ".npy" not in tracked
    commit_everything(project, "tiny run")
    remote = tmp_path / "remote"
    run([dvc, "remote", "add", "--local", "--default", "store", str(remote)], project)
    run([dvc, "push"], project)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    committed = json.loads(run([dvc, "metrics", "show", "--json"], clone))
    embedding_metrics = committed[""]["data"]["data/08_reporting/mnist_u/embedding_metrics.json"]["data"]
    assert embedding_metrics == json.loads((project / "data/08_reporting/mnist_u/embedding_metrics.json").read_text())
    run([dvc, "remote", "add", "--local", "--default", "store", str(remote)], clone)
    run([dvc, "pull", "--with-deps", "embedding"], clone)
    assert (clone / "data/06_models/mnist_u/dvc/irl_inr.pt").is_file()
    assert "up to date" in run([dvc, "status", "embedding"], clone)
    rerun = run([dvc, "repro", "embedding"], clone)
    assert "Running stage" not in rerun, rerun

    run([dvc, "repro", "--force", "--single-item", "training"], clone)
    assert "seconds" in (clone / "data/08_reporting/mnist_u/training_history_timings.csv").read_text()
    assert run(["git", "status", "--porcelain"], clone) == ""
    # What `make run` runs, plain `kedro run` (Kedro's default environment, not `dvc`),
    # writes the committed history in the same form: still nothing for git to show.
    run_kedro(clone, "--pipelines", "mnist_u", "--tags", "training")
    assert run(["git", "status", "--porcelain"], clone) == ""
