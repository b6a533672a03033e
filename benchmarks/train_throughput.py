"""Training throughput of IRL-INR: images per second for forward + backward + Adam step.

    python benchmarks/train_throughput.py --config paper --steps 3
    python benchmarks/train_throughput.py --config fast --steps 20 --device cuda --bf16 --compile
    python benchmarks/train_throughput.py --smoke      # seconds: does it still run?

Prints one JSON line: images/s (input images of batch 128 per second; each image is seen as
two augmented views), seconds per step, peak memory (resident set size on the CPU, peak
allocated on CUDA) and parameter counts.  Inputs are random smooth blobs: the cost of a step
does not depend on what the images show.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import statistics
import time

import torch

from irl_inr.geometry import pixel_grid, random_poses, transform_images
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig

CONFIGS = {"fast": IRLINRConfig.fast, "paper": IRLINRConfig.paper}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="fast")
    parser.add_argument("--steps", type=int, default=10, help="timed steps after warm-up")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training step's losses")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--reconstruction-pixels",
        type=int,
        default=None,
        help="override the config's pixels per view in the reconstruction loss (0: all)",
    )
    parser.add_argument("--smoke", action="store_true", help="seconds: fast, batch 2, 1 step (CI runs this)")
    args = parser.parse_args()
    if args.smoke:
        args.config, args.steps, args.warmup, args.batch, args.threads = "fast", 1, 0, 2, 1
    return args


def blobs(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 1, size, size) elongated Gaussian blobs, randomly posed, in [0, 1]."""
    grid = pixel_grid(size).reshape(1, size, size, 2)
    x, y = grid[..., 0], grid[..., 1]
    width = 0.1 + 0.1 * torch.rand(count, 1, 1, generator=generator)
    image = torch.exp(-(x**2 / (2 * width**2) + y**2 / (2 * 0.3**2))).unsqueeze(1)
    rotation, translation = random_poses(count, 0.2, generator=generator)
    return transform_images(image, rotation, translation)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    config = CONFIGS[args.config]()
    if args.reconstruction_pixels is not None:
        config = dataclasses.replace(config, reconstruction_pixels=args.reconstruction_pixels or None)

    torch.manual_seed(0)
    model = IRLINR(config).to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(0)
    images = blobs(args.batch, config.image_size, generator).to(device)
    losses_of = torch.compile(model.training_losses) if args.compile else model.training_losses

    def step() -> float:
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            losses = losses_of(images, generator)
        optimiser.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds = [step() for _ in range(args.steps)]

    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
        device_name = torch.cuda.get_device_name()
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        device_name = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    print(
        json.dumps(
            {
                "config": args.config,
                "device": device.type,
                "device_name": device_name,
                "bf16": args.bf16,
                "compile": args.compile,
                "batch": args.batch,
                "reconstruction_pixels": config.reconstruction_pixels,
                "steps": args.steps,
                "images_per_s": round(args.batch * len(seconds) / sum(seconds), 3),
                "median_step_s": round(statistics.median(seconds), 4),
                "peak_memory_mb": round(peak_mb, 1),
                "peak_memory_kind": "cuda_max_allocated" if device.type == "cuda" else "cpu_max_rss",
                "parameters": {
                    "encoder": count(model.encoder),
                    "hypernetwork": count(model.hypernetwork),
                    "inr_per_image": sum(o * i + o for o, i in model.inr.layer_shapes),
                    "total": count(model),
                },
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
