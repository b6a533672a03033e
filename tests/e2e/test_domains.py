"""The real ``kedro run`` of the other domains on a few hundred images with a tiny model:
each ends with its metrics and its report."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import run_kedro

TINY_MODEL = """
    config: tiny
    progress: false
    configurations:
      tiny:
        model: {{image_size: {size}, latent_dim: 8, backbone: small_cnn, num_frequencies: 16,
                inr_hidden: [16], hypernetwork_hidden: [32], max_shift_pixels: {shift}}}
        optimisation: {{epochs: 2, batch_size: 64, learning_rate: 1.0e-3, checkpoint_every: 3}}
"""


def tiny_domain(domain: str, own: str, size: int, shift: float) -> str:
    return f"""
{domain}:
{own}
  training:{TINY_MODEL.format(size=size, shift=shift)}
  embedding:
    invariance_images: 100
    invariance_poses: 2
  interpretation:
    optimisation: {{epochs: 3, batch_size: 64}}
  isometry:
    sample_size: 20
"""


def check_run(project, domain: str, images: int | None = None) -> dict:
    metrics = json.loads((project / f"data/08_reporting/{domain}/metrics.json").read_text())
    assert images is None or metrics[f"{domain}.images"] == images
    for key in ("recon_mse", "neighbour_acc", "kmeans_z.acc", "scan.acc", "kmeans_canonical.acc"):
        assert isinstance(metrics[f"{domain}.{key}"], float), key
    (report,) = (project / f"data/08_reporting/{domain}/report.html").glob("*/report.html")
    assert "<img" in report.read_text() and domain in report.read_text()
    return metrics


@pytest.mark.e2e
def test_cryo_em_runs_end_to_end_on_simulated_particles(project):
    own = "  simulation:\n    particles: 300\n"
    (project / "conf/local/parameters.yml").write_text(tiny_domain("cryo_em", own, size=32, shift=2.0))
    run_kedro(project, "--pipelines", "cryo_em")
    check_run(project, "cryo_em", images=300)
    assert (project / "data/02_intermediate/cryo_em/simulated_particles.star").exists()


@pytest.mark.e2e
def test_wm811k_runs_end_to_end_on_the_200_real_wafers(project, shared_data):
    (project / "conf/local/parameters.yml").write_text(tiny_domain("wm811k", "", size=32, shift=0.0))
    sample = shared_data / "wm811k" / "LSWMD_sample.pkl"
    run_kedro(project, "--pipelines", "wm811k", "--params", f"wm811k_pickle={sample}")
    metrics = check_run(project, "wm811k")
    assert 150 <= metrics["wm811k.images"] <= 200
    assert metrics["wm811k.kmeans_pixels.acc"] > 0


def test_wm811k_without_its_file_says_where_to_put_it(project):
    result = run_kedro(project, "--pipelines", "wm811k", check=False)
    assert result.returncode != 0
    assert "data/01_raw/wm811k/LSWMD.pkl" in result.stdout + result.stderr
