"""The model options of issue #7 in a real, tiny ``kedro run``: the low-rank instance
pattern composer with the isometry term trains, and the embedding stage measures it."""

import json

import pytest
import torch

from tests.e2e.conftest import run_kedro

OPTIONS_RUN = """
mnist_u:
  ingestion:
    max_images: 300
  training:
    config: tiny
    progress: false
    configurations:
      tiny:
        model: {image_size: 50, latent_dim: 8, backbone: small_cnn, num_frequencies: 16, inr_hidden: [16, 16],
                hypernetwork_hidden: [32], hypernetwork_kind: low_rank, hypernetwork_rank: 2,
                isometry_weight: 0.01, isometry_codes: 8}
        optimisation: {epochs: 1, batch_size: 64, learning_rate: 1.0e-3, checkpoint_every: 3}
  embedding:
    invariance_images: 50
    invariance_poses: 2
  isometry:
    sample_size: 10
"""


@pytest.mark.e2e
def test_low_rank_hypernetwork_with_the_isometry_term_trains_and_is_measured(project):
    (project / "conf/local/parameters.yml").write_text(OPTIONS_RUN)
    run_kedro(project, "--pipelines", "mnist_u", "--tags", "ingestion,augmentation,training,embedding")
    history = (project / "data/08_reporting/mnist_u/training_history.csv").read_text().splitlines()[0]
    assert "isometry" in history.split(",")
    (version,) = (project / "data/06_models/mnist_u/irl_inr.pt").iterdir()
    irl_inr_model = torch.load(version / "irl_inr.pt", weights_only=True)
    assert irl_inr_model["config"]["model"]["hypernetwork_kind"] == "low_rank"
    isometry = json.loads((project / "data/08_reporting/mnist_u/isometry_metrics.json").read_text())
    assert isometry["mean_condition_number"] >= 1.0 and isometry["isometry_codes"] == 10
