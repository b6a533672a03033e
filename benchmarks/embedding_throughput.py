"""Embedding throughput of IRL-INR: images per second through the embedding stage's work.

    nice -n 19 python benchmarks/embedding_throughput.py --config fast --images 1024
    nice -n 19 python benchmarks/embedding_throughput.py --config paper --images 256 --warmup-images 256
    python benchmarks/embedding_throughput.py --config paper --images 65536 --device cuda --bf16 --compile

Does what ``irl_inr.pipelines.embedding.nodes.extract_embeddings`` does per image, with
its own functions: encode (``encode_in_batches``: code z and pose), render the
reconstruction at the predicted pose and the canonical image at pose 0
(``render_in_batches``, twice), in batches of ``--batch`` (256, the embedding default).
The model is freshly initialised (the cost does not depend on the weights) and the
inputs are random posed blobs (``train_throughput.blobs``).  ``--warmup-images`` go
through first untimed.  Prints one JSON line: images/s overall (wall) and per part,
images per CPU second (the process's CPU time: the fairer figure on a shared machine),
and peak memory (resident set on the CPU, peak allocated on CUDA).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import time

import torch
from train_throughput import CONFIGS, blobs

from irl_inr.models.irl_inr import IRLINR
from irl_inr.pipelines.embedding.nodes import encode_in_batches, render_in_batches


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="fast")
    parser.add_argument("--images", type=int, default=512, help="timed images")
    parser.add_argument("--warmup-images", type=int, default=256, help="untimed images first")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder and the INR rendering")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    return parser.parse_args()


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def embed(model: IRLINR, images: torch.Tensor, batch: int, device: torch.device, bf16: bool) -> dict[str, float]:
    """Wall seconds spent encoding, rendering reconstructions and rendering canonical images."""
    size = images.shape[-1]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    seconds = {}
    with autocast:
        start = time.perf_counter()
        codes, rotations, translations = encode_in_batches(model, images, batch, device)
        synchronise(device)
        seconds["encode"] = time.perf_counter() - start
        start = time.perf_counter()
        render_in_batches(model, codes, rotations, translations, size, batch, device)
        synchronise(device)
        seconds["reconstruct"] = time.perf_counter() - start
        start = time.perf_counter()
        zeros = torch.zeros(len(codes))
        render_in_batches(model, codes, zeros, torch.zeros(len(codes), 2), size, batch, device)
        synchronise(device)
        seconds["canonical"] = time.perf_counter() - start
    return seconds


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    config = CONFIGS[args.config]()
    torch.manual_seed(0)
    model = IRLINR(config).to(device).eval()
    if args.compile:
        model.encode = torch.compile(model.encode)
        model.render = torch.compile(model.render)
    generator = torch.Generator().manual_seed(0)
    warmup = blobs(args.warmup_images, config.image_size, generator)
    images = blobs(args.images, config.image_size, generator)

    if args.warmup_images:
        embed(model, warmup, args.batch, device, args.bf16)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    cpu_start = time.process_time()
    seconds = embed(model, images, args.batch, device, args.bf16)
    cpu_seconds = time.process_time() - cpu_start

    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
        device_name = torch.cuda.get_device_name()
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        device_name = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    total = sum(seconds.values())
    print(
        json.dumps(
            {
                "config": args.config,
                "image_size": config.image_size,
                "device": device.type,
                "device_name": device_name,
                "bf16": args.bf16,
                "compile": args.compile,
                "batch": args.batch,
                "images": args.images,
                "images_per_s": round(args.images / total, 2),
                "seconds": round(total, 2),
                "seconds_by_part": {part: round(value, 2) for part, value in seconds.items()},
                "cpu_seconds": round(cpu_seconds, 2),
                "images_per_cpu_s": round(args.images / cpu_seconds, 2),
                "peak_memory_mb": round(peak_mb, 1),
                "peak_memory_kind": "cuda_max_allocated" if device.type == "cuda" else "cpu_max_rss",
                "torch": torch.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
