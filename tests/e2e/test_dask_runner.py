"""The default pipeline under ``--runner=irl_inr.runner.DaskRunner`` measures what the
SequentialRunner measures, on 300 embedded digits with a tiny model."""

import json

import pytest

from tests.e2e.conftest import copy_project, run_kedro
from tests.e2e.test_default_run import TINY_RUN

# TINY_RUN's 240 training rows are fewer than the interpretation flow's default batch.
TINY_INTERPRETATION = """
  interpretation:
    optimisation: {epochs: 2, batch_size: 64}
"""

# Worker processes, one thread each: with processes=false two nodes running side by side
# in threads of one process share torch's global random generator, and SCAN and
# self-labelling (seeded through it) then drew different batches than the sequential run.
DASK_RUNNER = ("--runner=irl_inr.runner.DaskRunner", "--runner-params", "n_workers=2,threads_per_worker=1,processes=true")


def measured(project) -> dict:
    """metrics.json without the timings, which differ from run to run."""
    metrics = json.loads((project / "data/08_reporting/mnist_u/metrics.json").read_text())
    return {key: value for key, value in metrics.items() if "seconds" not in key}


@pytest.mark.e2e
def test_dask_runner_measures_what_the_sequential_runner_measures(tmp_path):
    sequential, dask = copy_project(tmp_path / "sequential"), copy_project(tmp_path / "dask")
    for project in (sequential, dask):
        (project / "conf/local/parameters.yml").write_text(TINY_RUN + TINY_INTERPRETATION)
    run_kedro(sequential)
    result = run_kedro(dask, *DASK_RUNNER)
    log = result.stdout + result.stderr
    assert "Parameters checked:" in log  # the project's pipeline hook ran
    assert "Running on <Client" in log
    expected = measured(sequential)
    assert expected["mnist_u.images"] == 300
    assert measured(dask) == expected
