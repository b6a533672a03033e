"""Every script in benchmarks/ still runs: each one's ``--smoke`` setting (tiny sizes,
seconds), in a subprocess as a user runs it, against this checkout's code. The scripts
are found by name, so one added later is checked without a change here; an import or an
API a script uses that has moved fails the suite instead of the next person who runs it.

Most of a smoke run is importing torch and the project (3 to 7 CPU seconds a script), so
the selected scripts start together when the first test asks, two at a time on one
thread each, and each test waits for its own: about half the time of one after another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from numbers import Real
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(path for path in (PROJECT_ROOT / "benchmarks").glob("*.py") if not path.name.startswith("_"))
AT_ONCE = min(4, os.cpu_count() or 1)  # one thread each; 2 on the 2-core CI machine
TIMEOUT_S = 300


def run_smoke(script: Path) -> subprocess.CompletedProcess:
    source = str(PROJECT_ROOT / "src")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, str(script), "--smoke"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def smoke_runs(request) -> dict[Path, Future]:
    """Each selected script's ``--smoke`` run, started in the background."""
    selected = [item.callspec.params["script"] for item in request.session.items
                if item.module is request.module and "script" in getattr(item, "fixturenames", ())]
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        yield {script: pool.submit(run_smoke, script) for script in selected}


def test_the_benchmarks_are_found():
    assert {"predict_memory.py", "train_throughput.py", "wm811k_reader_memory.py"} <= {path.name for path in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_a_benchmark_runs_its_smoke_setting_and_prints_its_numbers(script, smoke_runs):
    assert '"--smoke"' in script.read_text(), f"{script.name} has no --smoke setting (see benchmarks/README.md)"
    result = smoke_runs[script].result()
    assert result.returncode == 0, f"{script.name} --smoke failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert lines and all(isinstance(line, dict) for line in lines), result.stdout[-2000:]
    numbers = [value for line in lines for value in line.values()
               if isinstance(value, Real) and not isinstance(value, bool)]
    assert numbers, f"{script.name} --smoke printed no numbers:\n{result.stdout[-2000:]}"
