"""kedro-viz in a real browser: ``kedro viz build`` writes a static site whose flowchart
is drawn by JavaScript; headless Chromium loads it from a local HTTP server and the
rendered page must show the pipelines' nodes."""

import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import copy_project, project_env
from tests.reporting.chromium import run_chromium, serve

# Nodes of the default pipeline (one per stage at least), by the name the flowchart shows.
NODE_NAMES = ("train_irl_inr", "extract_embeddings", "mine_neighbours", "compare_clusterings", "build_report")


@pytest.mark.e2e
def test_kedro_viz_flowchart_shows_the_pipeline_nodes(tmp_path):
    project = copy_project(tmp_path / "project")
    build = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        cwd=project, env=project_env(), capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, f"kedro viz build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    index = (project / "build" / "index.html").read_text(encoding="utf-8")
    # The names are not in the static page: finding them below proves the JavaScript ran.
    assert not [name for name in NODE_NAMES if name in index]

    with serve(project / "build") as url:
        # expandAllPipelines: the domains' namespaces are drawn open, node by node.
        page = run_chromium(
            tmp_path / "profile", "--virtual-time-budget=30000", "--dump-dom",
            f"{url}/?pid=__default__&expandAllPipelines=true",
        ).stdout
    drawn = set(re.findall(r'<text class="pipeline-node__text"[^>]*>([^<]+)</text>', page))
    missing = [name for name in NODE_NAMES if name not in drawn]
    assert not missing, f"the flowchart does not show {missing}; it shows {sorted(drawn)[:40]}"
