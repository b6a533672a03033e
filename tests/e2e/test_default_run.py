"""The real default ``kedro run`` end to end on 300 embedded digits with a tiny model."""

import json

import pytest

from tests.e2e.conftest import run_kedro



REQUIRED = (
    "mnist_u.recon_mse", "mnist_u.invariance_cos", "mnist_u.between_cos", "mnist_u.pose_retrieval_top1",
    "mnist_u.neighbour_acc", "mnist_u.pose_error_deg", "mnist_u.kmeans_z.acc", "mnist_u.kmeans_pixels.acc",
)


@pytest.mark.e2e
def test_default_run_ends_with_embeddings_figures_and_metrics(tiny_default_run):
    project = tiny_default_run
    metrics = json.loads((project / "data/08_reporting/mnist_u/metrics.json").read_text())
    for key in REQUIRED:
        assert isinstance(metrics[key], float), key
    assert metrics["mnist_u.images"] == 300
    for path in ("07_model_output/mnist_u/semantic_codes.npy", "07_model_output/mnist_u/canonical_images.npy",
                 "08_reporting/mnist_u/reconstructions.png", "08_reporting/mnist_u/training_history.csv"):
        assert (project / "data" / path).stat().st_size > 0, path
    versions = list((project / "data/06_models/mnist_u/irl_inr.pt").iterdir())
    assert len(versions) == 1 and (versions[0] / "irl_inr.pt").exists()

    # A second run trains nothing new (its checkpoint is finished) and adds a model version.
    run_kedro(project, "--pipelines", "mnist_u", "--tags", "training")
    assert len(list((project / "data/06_models/mnist_u/irl_inr.pt").iterdir())) == 2
