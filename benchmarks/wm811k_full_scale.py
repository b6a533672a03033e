"""WM-811K at full size: time and peak memory of ingestion and of a training epoch, and
what the ``paper`` configuration would cost, on a synthetic ``LSWMD.pkl``.

    nice -n 19 python benchmarks/wm811k_full_scale.py --workdir /tmp --threads 1    # 811,457 wafers
    nice -n 19 python benchmarks/wm811k_full_scale.py --rows 100000 --image-sizes 32
    python benchmarks/wm811k_full_scale.py --smoke                                    # seconds

Builds ``--rows`` synthetic wafers (default 811,457, ~21 % of them labelled, with the
published label shares) with ``wm811k_reader_memory.py``'s generator and writes them as
Python 2 wrote ``LSWMD.pkl``, in a temporary folder under ``--workdir`` (deleted
afterwards).  Then, each step in a fresh child process (peak RSS = its ``VmHWM``; wall
and CPU seconds of the step itself, imports excluded):

* ``convert``: ``convert_pickle`` (the restricted, streamed reader; Parquet);
* ``ingest``, for the labelled defect wafers (``defects``: ``none`` dropped, all eight
  types) and for every labelled wafer (``with_none``), at each of ``--image-sizes``:
  ``read_converted``, ``ingest_wafers`` and ``rotate_wafers`` as ``kedro run --pipelines
  wm811k`` calls them (``wm811k.ingestion`` / ``augmentation`` of ``conf/`` but the
  image size and the classes), each timed, and the images written for the next step;
* ``train``: the ``fast`` configuration of ``wm811k.training`` (``parameters_training.yml``
  under ``parameters_wm811k.yml``'s differences, read with the project's config loader;
  at sizes other than its own, only ``image_size`` is changed) trained by the project's
  ``fit`` on those images: ``--warmup`` steps, then ``--steps`` timed steps, extrapolated
  (linearly, not measured) to one epoch and to the configuration's epochs.

Last, the ``paper`` configuration of ``wm811k.training`` on the same image counts at
each size: FLOPs per image counted by ``paper_scale_estimate.flops_per_image`` (matrix
products and convolutions only, a lower bound), its epochs of ``ceil(images / batch)``
steps, on this CPU (``--cpu-step-seconds`` at 50x50 scaled by the FLOP ratio) and on 1
or 8 H100s at ``--utilisation`` of the bf16 peak (an estimate; no GPU is used).

Prints one JSON line per built file, step and estimate.  ``--smoke``: 2,000 wafers,
the defect set at 32x32, one timed step (about 20 CPU seconds, most of them imports:
torch and Kedro's config loader in every child).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from wm811k_reader_memory import ROWS, status_mb, synthetic_wafer_frame, write_pickle

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SETS = {"defects": False, "with_none": True}  # name -> whether 'none' is kept
SMOKE_ROWS = 2_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=ROWS, help="wafers in the synthetic pickle")
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the temporary folder (GBs at full size)")
    parser.add_argument("--image-sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS), help="which wafers are kept")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads in the training step")
    parser.add_argument("--flop-batch", type=int, default=2, help="images in the counted paper step")
    parser.add_argument("--cpu-step-seconds", type=float, default=63.6,
                        help="paper step at 50x50, batch 128, 2 cores (paper_scale_estimate.py's measured value)")
    parser.add_argument("--utilisation", type=float, nargs="+", default=[0.3, 0.4], help="of the H100's bf16 peak")
    parser.add_argument("--scaling", type=float, default=0.9, help="8-GPU data-parallel efficiency")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="2,000 wafers, defects only, 32x32, 1 timed step")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.image_sizes, args.sets, args.steps, args.warmup = SMOKE_ROWS, [32], ["defects"], 1, 1
    return args


def wm811k_parameters() -> dict:
    """``wm811k``'s parameters as ``kedro run`` sees them (stage defaults under its differences)."""
    from irl_inr import settings

    loader = settings.CONFIG_LOADER_CLASS(str(PROJECT_ROOT / "conf"), **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"]["wm811k"]


# ------------------------------------------------------------------------ the child steps
# Each step imports only what it needs (the conversion no torch, as in the pipeline) and
# reports the resident set after those imports as its baseline.


def convert_step(spec: dict) -> dict:
    """``convert_pickle`` of the synthetic pickle to Parquet."""
    from irl_inr.domains.wm811k.conversion import convert_pickle

    baseline_mb = status_mb("VmRSS")
    start, cpu_start = time.perf_counter(), time.process_time()
    rows = convert_pickle(spec["pickle"], spec["parquet"])
    return {"rows": rows, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
            "rss_after_imports_mb": baseline_mb}


def ingest_step(spec: dict) -> dict:
    """The front end of the pipeline on the converted file; the images go to ``spec["images"]``."""
    from irl_inr.domains.wm811k.conversion import read_converted
    from irl_inr.domains.wm811k.nodes import ingest_wafers, rotate_wafers

    parameters = wm811k_parameters()
    baseline_mb = status_mb("VmRSS")
    ingestion = {**parameters["ingestion"], "image_size": spec["image_size"], "classes": None,
                 "drop_none": not spec["with_none"]}
    timings, start, cpu_start = {}, time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        timings[f"{name}_s"] = time.perf_counter() - start - sum(timings.values())

    table, maps = read_converted(spec["parquet"])
    lap("read_converted")
    die_maps, wafer_table = ingest_wafers({"table": table, "maps": maps, "source": spec["parquet"]}, ingestion)
    lap("ingest_wafers")
    images, image_table = rotate_wafers(die_maps, wafer_table, ingestion, parameters["augmentation"])
    lap("rotate_wafers")
    cpu_seconds = time.process_time() - cpu_start
    np.save(spec["images"], images)
    return {"images": len(images), "images_mb": images.nbytes / 2**20, "die_maps_mb": die_maps.nbytes / 2**20,
            "classes": int(image_table["label"].nunique()), "seconds": sum(timings.values()),
            "cpu_seconds": cpu_seconds, **timings, "rss_after_imports_mb": baseline_mb}


def train_step(spec: dict) -> dict:
    """``--warmup`` then ``--steps`` steps of ``fit`` with the ``fast`` wafer configuration."""
    import torch

    from irl_inr.inference import images_as_tensor
    from irl_inr.models.irl_inr import IRLINR
    from irl_inr.pipelines.training.parameters import TrainingParameters
    from irl_inr.training import fit

    torch.set_num_threads(spec["threads"])
    model_config, optimisation = TrainingParameters.from_dict(wm811k_parameters()["training"]).selected("fast")
    configured_size = model_config.image_size
    model_config = dataclasses.replace(model_config, image_size=spec["image_size"])
    baseline_mb = status_mb("VmRSS")
    data = images_as_tensor(np.load(spec["images"]))
    # The configured batch, or every image where there are fewer (the smoke setting's 57 wafers).
    optimisation = dataclasses.replace(optimisation, batch_size=min(optimisation.batch_size, len(data)))
    torch.manual_seed(optimisation.seed)
    model = IRLINR(model_config)
    fit(model, data, optimisation, checkpoint_path=None, progress=False, stop_after_steps=spec["warmup"])
    start, cpu_start = time.perf_counter(), time.process_time()
    fit(model, data, optimisation, checkpoint_path=None, progress=False, stop_after_steps=spec["steps"])
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    steps_per_epoch = len(data) // optimisation.batch_size
    return {"images": len(data), "batch_size": optimisation.batch_size, "epochs": optimisation.epochs,
            "configured_image_size": configured_size, "threads": torch.get_num_threads(),
            "seconds": seconds, "cpu_seconds": cpu_seconds, "seconds_per_step": seconds / spec["steps"],
            "cpu_seconds_per_step": cpu_seconds / spec["steps"], "steps_per_epoch": steps_per_epoch,
            "epoch_seconds_extrapolated": seconds / spec["steps"] * steps_per_epoch,
            "epoch_cpu_seconds_extrapolated": cpu_seconds / spec["steps"] * steps_per_epoch,
            "rss_after_imports_mb": baseline_mb}


CHILD_STEPS = {"convert": convert_step, "ingest": ingest_step, "train": train_step}


def run_child(spec: dict) -> None:
    """In the child: one step, then its numbers and peak RSS (``VmHWM``) as one JSON line."""
    result = CHILD_STEPS[spec["step"]](spec)
    print(json.dumps({**result, "peak_rss_mb": status_mb("VmHWM")}))


def measure(spec: dict) -> dict:
    """Run ``spec`` in a fresh process; print and return its numbers (rounded)."""
    command = [sys.executable, __file__, "--child", json.dumps(spec)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{spec['step']} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    shown = {key: value for key, value in spec.items() if key in ("step", "set", "image_size", "steps", "warmup")}
    record = {**shown, **{key: round(value, 3) if isinstance(value, float) else value for key, value in result.items()}}
    print(json.dumps(record), flush=True)
    return record


# ------------------------------------------------------------------------ the paper estimate


def paper_estimates(image_counts: dict[str, int], sizes: list[int], args: argparse.Namespace) -> None:
    """Print the ``paper`` configuration's cost for every (wafer set, image size)."""
    import torch
    from paper_scale_estimate import H100_DENSE_BF16_FLOPS, flops_per_image

    from irl_inr.pipelines.training.parameters import TrainingParameters

    torch.set_num_threads(args.threads)
    _, optimisation = TrainingParameters.from_dict(wm811k_parameters()["training"]).selected("paper")
    per_image = {}
    for size in sorted({50, *sizes}):
        per_image[size], counted_s = flops_per_image(size, args.flop_batch)
        print(json.dumps({"step": "paper_flops", "image_size": size, "flop_batch": args.flop_batch,
                          "counted_step_s": round(counted_s, 1), "gflops_per_image": round(per_image[size] / 1e9, 2),
                          "tflops_per_step": round(per_image[size] * optimisation.batch_size / 1e12, 3)}), flush=True)
    for name, images in image_counts.items():
        for size in sizes:
            steps = optimisation.epochs * math.ceil(images / optimisation.batch_size)
            step_flops = per_image[size] * optimisation.batch_size
            rows = [("cpu, 2 cores (flop-scaled from the measured 50x50 step)", 1,
                     args.cpu_step_seconds * per_image[size] / per_image[50])]
            for share in args.utilisation:
                gpu_step_s = step_flops / (H100_DENSE_BF16_FLOPS * share)
                rows += [(f"1x H100 bf16 at {share:.0%} of peak (estimate)", 1, gpu_step_s),
                         (f"8x H100 bf16 at {share:.0%} of peak (estimate)", 8, gpu_step_s / (8 * args.scaling))]
            for hardware, gpus, step_s in rows:
                print(json.dumps({"step": "paper_estimate", "set": name, "images": images, "image_size": size,
                                  "epochs": optimisation.epochs, "batch_size": optimisation.batch_size,
                                  "steps": steps, "hardware": hardware, "gpus": gpus,
                                  "seconds_per_step": round(step_s, 4), "minutes": round(steps * step_s / 60, 1),
                                  "days": round(steps * step_s / 86400, 2)}), flush=True)


# ------------------------------------------------------------------------ the run


def build_pickle(path: Path, rows: int, seed: int) -> None:
    """The synthetic ``LSWMD.pkl``; prints its size and build time."""
    start = time.perf_counter()
    frame = synthetic_wafer_frame(rows, seed)
    generated = time.perf_counter()
    write_pickle(frame, path, "python2")
    labelled = int(sum(cell.size > 0 for cell in frame["failureType"]))
    print(json.dumps({"step": "build", "rows": rows, "labelled": labelled,
                      "pickle_mb": round(path.stat().st_size / 2**20, 1),
                      "generate_s": round(generated - start, 1),
                      "write_s": round(time.perf_counter() - generated, 1)}), flush=True)


def main() -> None:
    args = parse_args()
    if args.child:
        run_child(json.loads(args.child))
        return
    with tempfile.TemporaryDirectory(prefix="wm811k_full_", dir=args.workdir) as folder:
        pickle_path, parquet_path = Path(folder) / "LSWMD.pkl", Path(folder) / "LSWMD.parquet"
        build_pickle(pickle_path, args.rows, args.seed)
        measure({"step": "convert", "pickle": str(pickle_path), "parquet": str(parquet_path)})
        image_counts = {}
        for name in args.sets:
            for size in args.image_sizes:
                images_path = str(Path(folder) / f"images_{name}_{size}.npy")
                common = {"set": name, "image_size": size, "images": images_path}
                ingested = measure({"step": "ingest", **common, "parquet": str(parquet_path),
                                    "with_none": SETS[name]})
                image_counts[name] = ingested["images"]
                measure({"step": "train", **common, "steps": args.steps, "warmup": args.warmup,
                         "threads": args.threads})
                Path(images_path).unlink()
    paper_estimates(image_counts, args.image_sizes, args)


if __name__ == "__main__":
    main()
