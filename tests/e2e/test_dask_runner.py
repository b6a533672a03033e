"""The default domain, sharded, under ``--runner=irl_inr.runner.DaskRunner`` measures what
the SequentialRunner measures unsharded, on 300 embedded digits with a tiny model."""

import json

import pytest

from tests.e2e.conftest import TINY_RUN, copy_project, run_kedro

# Worker processes, one thread each: with processes=false two nodes running side by side
# in threads of one process share torch's global random generator, and SCAN and
# self-labelling (seeded through it) then drew different batches than the sequential run.
DASK_RUNNER = ("--runner=irl_inr.runner.DaskRunner", "--runner-params", "n_workers=2,threads_per_worker=1,processes=true")


def measured(project) -> dict:
    """metrics.json without the timings, which differ from run to run."""
    metrics = json.loads((project / "data/08_reporting/mnist_u/metrics.json").read_text())
    return {key: value for key, value in metrics.items() if "seconds" not in key}


@pytest.mark.e2e
def test_dask_runner_on_shards_measures_what_the_sequential_runner_measures(tiny_default_run, tmp_path):
    dask = copy_project(tmp_path / "dask")
    (dask / "conf/local/parameters.yml").write_text(TINY_RUN)
    result = run_kedro(dask, "--pipelines", "mnist_u_sharded", *DASK_RUNNER)
    log = result.stdout + result.stderr
    assert "Parameters checked:" in log  # the project's pipeline hook ran
    assert "Running on <Client" in log and "extract_embeddings_shard_3" in log
    expected = measured(tiny_default_run)
    assert expected["mnist_u.images"] == 300
    assert measured(dask) == expected
