"""kedro-viz in a real browser: ``kedro viz build --include-previews`` writes a static
site whose flowchart is drawn by JavaScript; headless Chromium loads it from a local HTTP
server and the rendered page must show the pipelines' nodes and, in every pipeline, the
layer bands (kedro-viz drops them all when the layers form a cycle)."""

import json
import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import copy_project, project_env
from tests.reporting.chromium import run_chromium, serve

# Nodes of the default pipeline (one per stage at least), by the name the flowchart shows.
NODE_NAMES = ("train_irl_inr", "extract_embeddings", "mine_neighbours", "compare_clusterings", "build_report")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A fresh clone's project after a run's events file but before its data (no dataset
    has a file to preview: the worst case for previews), built once."""
    tmp_path = tmp_path_factory.mktemp("viz")
    project = copy_project(tmp_path / "project")
    # What kedro-viz's run hook leaves after `make run` (without it kedro-viz notes its absence).
    (project / ".viz").mkdir()
    (project / ".viz/kedro_pipeline_events.json").write_text(json.dumps([
        {"event": "before_pipeline_run", "timestamp": "2026-01-01T00:00:00+00:00"},
        {"event": "after_pipeline_run", "timestamp": "2026-01-01T00:01:00+00:00"},
    ]))
    build = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build", "--include-previews"],
        cwd=project, env=project_env(), capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, f"kedro viz build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    return project, tmp_path, build.stdout + build.stderr


def _drawn(tmp_path, project, query: str) -> str:
    with serve(project / "build") as url:
        return run_chromium(
            tmp_path / "profile", "--virtual-time-budget=30000", "--dump-dom", f"{url}/?{query}",
        ).stdout


@pytest.mark.e2e
def test_kedro_viz_build_prints_no_warning(built):
    _, _, output = built
    # Previews of datasets without a file are skipped quietly; the layers form no cycle.
    assert "WARNING" not in output and "Warning" not in output, output[-3000:]
    assert "circular dependency" not in output


@pytest.mark.e2e
def test_kedro_viz_flowchart_shows_the_pipeline_nodes(built):
    project, tmp_path, _ = built
    index = (project / "build" / "index.html").read_text(encoding="utf-8")
    # The names are not in the static page: finding them below proves the JavaScript ran.
    assert not [name for name in NODE_NAMES if name in index]
    # expandAllPipelines: the domains' namespaces are drawn open, node by node.
    page = _drawn(tmp_path, project, "pid=__default__&expandAllPipelines=true")
    drawn = set(re.findall(r'<text class="pipeline-node__text"[^>]*>([^<]+)</text>', page))
    missing = [name for name in NODE_NAMES if name not in drawn]
    assert not missing, f"the flowchart does not show {missing}; it shows {sorted(drawn)[:40]}"


@pytest.mark.e2e
def test_the_predict_pipeline_shows_its_layer_bands(built):
    project, tmp_path, _ = built
    page = _drawn(tmp_path, project, "pid=mnist_u_predict&expandAllPipelines=true")
    layers = re.findall(r'class="pipeline-layer-name[^"]*"[^>]*>\s*([a-z_]+)\s*<', page)
    # IRL-INR and its codes (feature), SCAN (models), the new images (raw), the predictions (model_output).
    assert {"raw", "feature", "models", "model_output"} <= set(layers), f"layer bands drawn: {layers}"


@pytest.mark.e2e
def test_the_published_build_holds_no_absolute_path(built):
    project, _, _ = built
    root = str(project.resolve())
    result = subprocess.run(
        [sys.executable, "-m", "irl_inr.reporting.viz_build", "build"], cwd=project, env=project_env(),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    leaking = [path.name for path in (project / "build" / "api").rglob("*")
               if path.is_file() and (root in path.read_text() or '"filepath": "/' in path.read_text())]
    assert not leaking, f"absolute paths left in {leaking[:5]}"
    nodes = "".join(path.read_text() for path in (project / "build/api/nodes").iterdir())
    assert '"filepath": "data/' in nodes
