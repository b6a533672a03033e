"""Every DVC stage depends on the source it runs: its pipeline modules and, through the
import graph, every ``irl_inr`` module they use (tools/dvc_deps.py), so an edit reruns it."""

import importlib.util
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("dvc_deps", PROJECT_ROOT / "tools/dvc_deps.py")
dvc_deps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dvc_deps)
STAGES = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]


def test_every_source_dependency_exists():
    absent = [(name, dep) for name, stage in STAGES.items() for dep in stage.get("deps", [])
              if dep.startswith("src/") and not (PROJECT_ROOT / dep).exists()]  # fmt: skip
    assert absent == []


def test_no_stage_lacks_a_module_it_imports():
    assert dvc_deps.missing_dependencies(STAGES) == {}, "run `python tools/dvc_deps.py --write`"


def test_the_import_graph_reaches_through_packages():
    training = dvc_deps.closure(dvc_deps.stage_seeds(STAGES["training"]["deps"]))
    names = {str(path.relative_to(PROJECT_ROOT)) for path in training}
    # nodes -> irl_inr.models.irl_inr -> its augmentation; the metrics package's parts reach embedding
    assert "src/irl_inr/models/augmentation.py" in names
    embedding = dvc_deps.closure(dvc_deps.stage_seeds(STAGES["embedding"]["deps"]))
    assert PROJECT_ROOT / "src/irl_inr/metrics/neighbours.py" in embedding
    # a stage does not take what it does not import
    assert not any("reporting" in name for name in names)
