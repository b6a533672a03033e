"""How long the ``paper`` configuration would train at the paper's scale: an estimate.

    nice -n 19 python benchmarks/paper_scale_estimate.py
    nice -n 19 python benchmarks/paper_scale_estimate.py --flop-batch 4 --utilisation 0.3 0.4 --scaling 0.9
    python benchmarks/paper_scale_estimate.py --smoke     # seconds: does it still run? (its counts mean nothing)

Counts the floating-point operations of one training step of the ``paper`` model
(forward and backward of ``IRLINR.training_losses``, both views) with
``torch.utils.flop_counter.FlopCounterMode`` at ``--flop-batch`` images, scaled linearly to
``--batch`` (every op is per image); once at 50x50 (MNIST-U) and once at 32x32 (WM-811K
resized).  The counter counts matrix products and convolutions only (no element-wise
ops, no grid sampling), so it is a lower bound on the work.

Then, for each dataset, 100 epochs of ``ceil(images / batch)`` steps:

* CPU: ``--cpu-step-seconds`` (63.6 s, measured by ``train_throughput.py --config paper``
  at batch 128 on this project's 2-core CPU at 50x50), scaled by the FLOP ratio for 32x32;
* H100 (an estimate, not a measurement: no GPU was used): FLOPs per step divided by
  ``--utilisation`` x 989 TFLOP/s (dense bf16 peak of an H100 SXM); on 8 GPUs with
  data-parallel training at ``--scaling`` efficiency.

Prints one JSON line per (image size) with the FLOP count, and one per (dataset,
hardware) estimate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time

import torch
from torch.utils.flop_counter import FlopCounterMode
from train_throughput import blobs

from irl_inr.models.irl_inr import IRLINR, IRLINRConfig

H100_DENSE_BF16_FLOPS = 989e12
# (name, images, image side): MNIST-U is the MNIST training set, rotated and shifted.
DATASETS = (
    ("mnist_u (MNIST training set)", 60_000, 50),
    ("wm811k (all wafers)", 811_457, 32),
    ("wm811k (labelled wafers)", 172_950, 32),
)
# --smoke: the paper model's losses and three-layer INR and hypernetwork, narrow and on the
# small CNN instead of ResNet-18, so that building and counting it take a second; its
# counts are not the paper model's.
SMOKE_MODEL = {"backbone": "small_cnn", "encoder_head_hidden": 16, "num_frequencies": 8, "inr_hidden": (8, 8, 8),
               "hypernetwork_hidden": (16, 16, 16)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flop-batch", type=int, default=4, help="images in the counted step")
    parser.add_argument("--batch", type=int, default=128, help="the paper config's batch")
    parser.add_argument("--epochs", type=int, default=100, help="the paper config's epochs")
    parser.add_argument("--cpu-step-seconds", type=float, default=63.6, help="measured paper step at 50x50, batch 128")
    parser.add_argument("--utilisation", type=float, nargs="+", default=[0.3, 0.4], help="of the H100's bf16 peak")
    parser.add_argument("--scaling", type=float, default=0.9, help="8-GPU data-parallel efficiency")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the counted step")
    parser.add_argument("--smoke", action="store_true", help="seconds: a small model, batch 2 (CI runs this)")
    args = parser.parse_args()
    if args.smoke:
        args.flop_batch = 2
    return args


def flops_per_image(size: int, batch: int, smoke: bool = False) -> tuple[float, float]:
    """FLOPs of one training step (forward + backward) per image at ``size`` x ``size``, and
    the seconds the counted step took."""
    config = dataclasses.replace(IRLINRConfig.paper(), image_size=size, **SMOKE_MODEL if smoke else {})
    torch.manual_seed(0)
    model = IRLINR(config).train()
    generator = torch.Generator().manual_seed(0)
    images = blobs(batch, size, generator)
    start = time.perf_counter()
    with FlopCounterMode(display=False) as counter:
        losses = model.training_losses(images, generator)
        losses["total"].backward()
    return counter.get_total_flops() / batch, time.perf_counter() - start


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    per_image = {}
    for size in sorted({size for _, _, size in DATASETS}, reverse=True):
        per_image[size], seconds = flops_per_image(size, args.flop_batch, args.smoke)
        print(
            json.dumps(
                {
                    "image_size": size,
                    "flop_batch": args.flop_batch,
                    "counted_step_s": round(seconds, 1),
                    "gflops_per_image": round(per_image[size] / 1e9, 2),
                    "tflops_per_step": round(per_image[size] * args.batch / 1e12, 3),
                    "batch": args.batch,
                }
            ),
            flush=True,
        )
    for name, images, size in DATASETS:
        steps = args.epochs * math.ceil(images / args.batch)
        step_flops = per_image[size] * args.batch
        cpu_step_s = args.cpu_step_seconds * per_image[size] / per_image[50]
        rows = [("cpu (2 cores, measured step at 50x50)", 1, cpu_step_s, "measured" if size == 50 else "flop-scaled")]
        for utilisation in args.utilisation:
            step_s = step_flops / (H100_DENSE_BF16_FLOPS * utilisation)
            rows.append((f"H100 bf16 at {utilisation:.0%} of peak", 1, step_s, "estimate"))
            rows.append((f"8x H100 bf16 at {utilisation:.0%} of peak", 8, step_s / (8 * args.scaling), "estimate"))
        for hardware, gpus, step_s, kind in rows:
            print(
                json.dumps(
                    {
                        "dataset": name,
                        "images": images,
                        "image_size": size,
                        "epochs": args.epochs,
                        "steps": steps,
                        "hardware": hardware,
                        "gpus": gpus,
                        "scaling": args.scaling if gpus > 1 else 1.0,
                        "seconds_per_step": round(step_s, 6),
                        "minutes": round(steps * step_s / 60, 1),
                        "days": round(steps * step_s / 86400, 2),
                        "kind": kind,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
