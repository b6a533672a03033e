"""Peak memory and time of the WM-811K reader on a full-size synthetic ``LSWMD.pkl``.

    nice -n 19 python benchmarks/wm811k_reader_memory.py                  # 811,457 wafers
    nice -n 19 python benchmarks/wm811k_reader_memory.py --rows 50000 --read-only-too
    python benchmarks/wm811k_reader_memory.py --smoke      # seconds: does it still run?

Builds, in a temporary folder that is deleted afterwards (``--workdir`` picks its parent),
a pickle shaped like the published one: a DataFrame of ``--rows`` wafers with the columns
``waferMap`` (uint8 2-D maps, 0 no die / 1 good die / 2 defective die, sides drawn from a
log-normal around 45 dies clipped to 25..212, height and width within 10% of each other),
``dieSize`` and ``waferIndex`` (float), ``lotName`` (25 wafers a lot), ``trianTestLabel``
and ``failureType`` (nested byte-string arrays like ``array([[b'Edge-Loc']])``, or an empty
(0, 0) array for the ~79% unlabelled wafers; labelled wafers drawn with the published
label counts).  It is written as pandas 0.x under Python 2 wrote it: protocol 2, every
byte string (each map's raw data included) a memoised ``BINSTRING``, numpy and pandas
globals under their old module names (``--flavour python2``, default).  ``--flavour
pandas2`` writes the installed pandas' ``DataFrame.to_pickle`` (protocol 5) of object
columns, as pandas 2.x holds them (module names as the installed pandas spells them);
``--flavour pandas3`` the same with pandas 3's default ``str`` columns (column labels and
``lotName`` as Arrow strings, whose arrays the reader validates).  The index is a
RangeIndex (``pandas.RangeIndex``, allowed).

Then, each in a fresh child process (its ``VmHWM`` is the peak resident set):
``sha256`` (``irl_inr.domains.wm811k.conversion.file_sha256``: the whole-file hash that keys the Parquet
cache, computed on every load; ``mb_per_s`` and ``cpu_mb_per_s``, in MiB as every "mb"
here), ``convert`` (``irl_inr.domains.wm811k.conversion.convert_pickle``: the hash, the restricted,
streamed reader and the Parquet conversion), ``read_parquet`` (``read_converted`` of the result) and, with
``--read-only-too``, ``read_pickle`` (``read_wafer_frame`` alone).  Prints one JSON line
for the built file and one per step, with the peak RSS relative to the pickle's size.
The ``sha256`` step runs first, so the file is as warm in the page cache as the writer
left it; a cold read is bounded by the disk instead.
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 811_457
# Published label counts of the 172,950 labelled wafers (the rest are unlabelled).
FAILURE_COUNTS = {
    "none": 147_431, "Edge-Ring": 9_680, "Edge-Loc": 5_189, "Center": 4_294, "Loc": 3_593,
    "Scratch": 1_193, "Random": 866, "Donut": 555, "Near-full": 149,
}
LABELLED_SHARE = 172_950 / ROWS
TEST_SHARE = 118_595 / 172_950  # published split of the labelled wafers: 54,355 Training, 118,595 Test
DEFECT_SHARE = 0.05
# Globals under the names pandas 0.x / numpy 1.x gave them (module prefix -> old prefix).
OLD_MODULES = (
    ("numpy._core.", "numpy.core."),
    ("pandas.core.indexes.", "pandas.indexes."),
    ("pandas.core.internals.managers", "pandas.core.internals"),
)
OLD_GLOBALS = {
    ("pandas", "Index"): ("pandas.indexes.base", "Index"),
    ("pandas", "RangeIndex"): ("pandas.indexes.range", "RangeIndex"),
    ("pandas", "DataFrame"): ("pandas.core.frame", "DataFrame"),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--flavour", choices=["python2", "pandas2", "pandas3"], default="python2")
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the temporary folder")
    parser.add_argument("--read-only-too", action="store_true", help="also measure read_wafer_frame on its own")
    parser.add_argument("--smoke", action="store_true", help="seconds: 2,000 wafers (CI runs this)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--step", choices=["sha256", "convert", "read_parquet", "read_pickle"], help=argparse.SUPPRESS)
    parser.add_argument("--pickle", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--parquet", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.rows = min(args.rows, 2000)
    return args


# ------------------------------------------------------------------------ the synthetic file


def synthetic_wafer_frame(rows: int, seed: int, text_columns: str = "object") -> pd.DataFrame:
    """``text_columns``: "object" (the published layout, pandas 2.x) or "str" (pandas 3's
    default for labels and ``lotName``: Arrow strings)."""
    rng = np.random.default_rng(seed)
    heights = np.clip(np.round(np.exp(rng.normal(np.log(45), 0.3, rows))), 25, 212).astype(int)
    widths = np.clip(np.round(heights * rng.uniform(0.9, 1.1, rows)), 25, 212).astype(int)
    discs: dict[tuple[int, int], np.ndarray] = {}
    maps = np.empty(rows, dtype=object)
    die_sizes = np.empty(rows)
    for row, shape in enumerate(zip(heights, widths)):
        disc = discs.get(shape)
        if disc is None:
            y = (np.arange(shape[0]) + 0.5) / shape[0] * 2 - 1
            x = (np.arange(shape[1]) + 0.5) / shape[1] * 2 - 1
            disc = discs[shape] = (y[:, None] ** 2 + x[None, :] ** 2 <= 1).astype(np.uint8)
        maps[row] = disc + (disc & (rng.random(shape) < DEFECT_SHARE)).astype(np.uint8)
        die_sizes[row] = disc.sum()

    labelled = rng.random(rows) < LABELLED_SHARE
    names = list(FAILURE_COUNTS)
    weights = np.array(list(FAILURE_COUNTS.values()), dtype=float)
    failures = rng.choice(len(names), size=rows, p=weights / weights.sum())
    tests = rng.random(rows) < TEST_SHARE
    empty = np.zeros((0, 0))
    failure_cells = np.empty(rows, dtype=object)
    split_cells = np.empty(rows, dtype=object)
    for row in range(rows):
        if labelled[row]:
            failure_cells[row] = np.array([[names[failures[row]].encode()]])
            split_cells[row] = np.array([[b"Test" if tests[row] else b"Training"]])
        else:
            failure_cells[row] = empty.copy()
            split_cells[row] = empty.copy()
    lots = np.empty(rows, dtype=object)
    lots[:] = [f"lot{row // 25 + 1}" for row in range(rows)]
    frame = pd.DataFrame(
        {
            "waferMap": maps,
            "dieSize": die_sizes,
            "lotName": lots,
            "waferIndex": (np.arange(rows) % 25 + 1).astype(float),
            "trianTestLabel": split_cells,
            "failureType": failure_cells,
        }
    )
    frame.columns = pd.Index(list(frame.columns), dtype=text_columns)
    frame["lotName"] = frame["lotName"].astype(text_columns)
    return frame


class Python2StylePickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: ``bytes`` as memoised ``BINSTRING`` (the memo entry
    is numbered but not kept here, so writing does not hold a second copy of the maps) and
    globals under their old module names."""

    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file) -> None:
        super().__init__(file, protocol=2)
        self._unkept = 0

    def save_bytes_as_str(self, value: bytes) -> None:
        if len(value) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(value)]) + value)
        else:
            self.write(pickle.BINSTRING + len(value).to_bytes(4, "little") + value)
        index = len(self.memo)
        self._unkept += 1
        self.memo[-self._unkept] = (index, None)  # negative keys never collide with object ids
        self.write(self.put(index))

    def save_global(self, obj, name=None) -> None:
        name = name or obj.__qualname__
        module = pickle.whichmodule(obj, name)
        module, name = OLD_GLOBALS.get((module, name), (module, name))
        for new, old in OLD_MODULES:
            if module.startswith(new):
                module = old + module[len(new):]
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)

    dispatch[bytes] = save_bytes_as_str
    dispatch[types.FunctionType] = save_global


def write_pickle(frame: pd.DataFrame, path: Path, flavour: str) -> None:
    if flavour in ("pandas2", "pandas3"):
        frame.to_pickle(path)
        return
    with open(path, "wb", buffering=1 << 20) as handle:
        Python2StylePickler(handle).dump(frame)


# ------------------------------------------------------------------------ the measured steps


def status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in MiB.  Not ``ru_maxrss``: after
    fork + exec it still counts the parent's pages (Linux keeps the larger of the two)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def run_step(args: argparse.Namespace) -> None:
    """In the child: one step, then its peak RSS, wall and CPU seconds as JSON."""
    from irl_inr.domains.wm811k.conversion import convert_pickle, file_sha256, read_converted, read_wafer_frame

    baseline_mb = status_mb("VmRSS")
    start, cpu_start = time.perf_counter(), time.process_time()
    if args.step == "sha256":
        file_sha256(args.pickle)
        rows = None
    elif args.step == "convert":
        rows = convert_pickle(args.pickle, args.parquet)
    elif args.step == "read_pickle":
        rows = len(read_wafer_frame(args.pickle))
    else:
        table, maps = read_converted(args.parquet)
        rows = len(maps)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    result = {"rows": rows, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": status_mb("VmHWM"),
              "rss_after_imports_mb": baseline_mb}
    print(json.dumps(result))


def measure(step: str, pickle_path: Path, parquet_path: Path, pickle_mb: float) -> None:
    command = [sys.executable, __file__, "--step", step, "--pickle", str(pickle_path), "--parquet", str(parquet_path)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{step} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    record = {
        "step": step,
        "rows": result["rows"],
        "seconds": round(result["seconds"], 1),
        "cpu_seconds": round(result["cpu_seconds"], 1),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "rss_after_imports_mb": round(result["rss_after_imports_mb"], 1),
        "pickle_mb": round(pickle_mb, 1),
        "peak_rss_over_pickle_size": round(result["peak_rss_mb"] / pickle_mb, 3),
        "peak_above_imports_over_pickle_size": round(
            (result["peak_rss_mb"] - result["rss_after_imports_mb"]) / pickle_mb, 3
        ),
    }
    if step == "sha256":
        record["mb_per_s"] = round(pickle_mb / result["seconds"], 1)
        record["cpu_mb_per_s"] = round(pickle_mb / max(result["cpu_seconds"], 1e-9), 1)
    if parquet_path.exists():
        record["parquet_mb"] = round(parquet_path.stat().st_size / 2**20, 1)
    print(json.dumps(record), flush=True)


def main() -> None:
    args = parse_args()
    if args.step:
        run_step(args)
        return
    with tempfile.TemporaryDirectory(prefix="wm811k_bench_", dir=args.workdir) as folder:
        pickle_path, parquet_path = Path(folder) / "LSWMD.pkl", Path(folder) / "LSWMD.parquet"
        start = time.perf_counter()
        frame = synthetic_wafer_frame(args.rows, args.seed, "str" if args.flavour == "pandas3" else "object")
        generate_s = time.perf_counter() - start
        sides = np.array([wafer.shape for wafer in frame["waferMap"]])
        start, cpu_start = time.perf_counter(), time.process_time()
        write_pickle(frame, pickle_path, args.flavour)
        write_s, write_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
        labelled = int(sum(cell.size > 0 for cell in frame["failureType"]))
        del frame
        pickle_mb = pickle_path.stat().st_size / 2**20
        print(
            json.dumps(
                {
                    "step": "build",
                    "rows": args.rows,
                    "labelled": labelled,
                    "flavour": args.flavour,
                    "pickle_mb": round(pickle_mb, 1),
                    "map_bytes_mb": round(float((sides[:, 0] * sides[:, 1]).sum()) / 2**20, 1),
                    "map_side_median": float(np.median(sides)),
                    "map_side_p99": float(np.percentile(sides, 99)),
                    "map_side_max": int(sides.max()),
                    "generate_s": round(generate_s, 1),
                    "write_s": round(write_s, 1),
                    "write_cpu_s": round(write_cpu_s, 1),
                    "pandas": pd.__version__,
                }
            ),
            flush=True,
        )
        measure("sha256", pickle_path, parquet_path, pickle_mb)
        if args.read_only_too:
            measure("read_pickle", pickle_path, parquet_path, pickle_mb)
        measure("convert", pickle_path, parquet_path, pickle_mb)
        measure("read_parquet", pickle_path, parquet_path, pickle_mb)


if __name__ == "__main__":
    main()
