"""Embedding throughput of IRL-INR: codes and poses per second, and renders per second.

    python benchmarks/embedding_throughput.py --threads 2
    python benchmarks/embedding_throughput.py --configs paper --fold-bn --channels-last --pack --threads 2
    python benchmarks/embedding_throughput.py --configs paper --images 65536 --device cuda --bf16 --compile
    python benchmarks/embedding_throughput.py --smoke      # seconds: does it still run?

The embedding stage's two nodes, with their own library functions, for each
configuration of ``--configs`` (``fast`` and ``paper`` by default):

* codes and poses (``extract_embeddings``): ``encode_in_batches``, the encoder alone;
* renders (``render_images``): ``render_in_batches`` twice, the reconstruction at the
  predicted pose and the canonical image at pose 0.

The model is freshly initialised (the cost does not depend on the weights), eval mode;
the inputs are random posed blobs (``train_throughput.blobs``), ``--batch`` at a time.
``--warmup-images`` go through first untimed.  Options for the encoder (``irl_inr.inference.inference_copy``;
the three are ``embedding.fast_encoder``): ``--fold-bn`` (batch norms folded into the
convolutions), ``--channels-last`` (its convolutions in channels-last memory format), ``--pack``
(needs ``--fold-bn``; CPU: oneDNN convolutions with packed weights and fused ReLUs and residual
adds); ``--compile``
(``torch.compile`` of the encoder and the rendering; on failure at the first call the
eager functions, reported as ``compile_fallback``); ``--bf16``: bfloat16 autocast.

Prints one JSON line: per configuration, codes-and-poses images/s (wall) and per CPU
second (the process's CPU time: the fairer figure on a shared machine), rendering
images/s (both renders of an image), the stage as a whole, peak memory (resident set on
the CPU, peak allocated on CUDA) and, for ``paper``, the codes-and-poses images/s over
the original IRL-INR's encoder-only 21.8 images/s (same 2-core CPU, fp32, 2 threads).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import time
from collections.abc import Callable

import torch
from train_throughput import CONFIGS, blobs

from irl_inr.inference import encode_in_batches, inference_copy, render_in_batches
from irl_inr.models.irl_inr import IRLINR

# The original IRL-INR's encoder-only embedding, images/s: `paper` configuration, 50x50,
# batch 128, fp32, 2 threads on the project's 2-core CPU (issue #16).
ORIGINAL_ENCODER_IMAGES_PER_S = {"paper": 21.8}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["fast", "paper"])
    parser.add_argument("--images", type=int, default=512, help="timed images per configuration")
    parser.add_argument("--warmup-images", type=int, default=256, help="untimed images first")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--fold-bn", action="store_true", help="fold the encoder's batch norms into its convolutions")
    parser.add_argument("--channels-last", action="store_true", help="the encoder's convolutions channels-last")
    parser.add_argument("--pack", action="store_true", help="oneDNN packed convolutions, ReLUs and adds fused (CPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder and the INR rendering")
    parser.add_argument("--skip-render", action="store_true", help="time codes and poses only")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--smoke", action="store_true", help="seconds: fast, 4 + 2 images, batch 2 (CI runs this)")
    args = parser.parse_args()
    if args.smoke:
        args.configs, args.images, args.warmup_images, args.batch, args.threads = ["fast"], 4, 2, 2, 1
    return args


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def compiled_or_eager(function: Callable, probe: Callable[[Callable], object]) -> tuple[Callable, bool]:
    """``torch.compile(function)`` if ``probe`` runs through it, else ``function``; and
    whether it fell back."""
    compiled = torch.compile(function)
    try:
        probe(compiled)
    except Exception as error:  # inductor raises many types (no compiler, unsupported op)
        print(json.dumps({"compile_failed": f"{type(error).__name__}: {str(error)[:200]}"}), flush=True)
        return function, True
    return compiled, False


def inference_model(model: IRLINR, args: argparse.Namespace) -> IRLINR:
    """The model the benchmark times: eval mode; ``inference_copy`` (what
    ``embedding.fast_encoder`` uses) with batch norms folded, channels-last and packed
    convolutions as asked."""
    if not (args.fold_bn or args.channels_last or args.pack):
        return model.eval()
    return inference_copy(
        model, fold=args.fold_bn, channels_last=args.channels_last, pack=args.pack, batch_size=args.batch
    )


def timed(function: Callable[[], object], device: torch.device) -> tuple[object, float, float]:
    """(result, wall seconds, process CPU seconds) of ``function()``."""
    synchronise(device)
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    synchronise(device)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    config = CONFIGS[name]()
    torch.manual_seed(0)
    model = inference_model(IRLINR(config).to(device), args)
    generator = torch.Generator().manual_seed(0)
    warmup = blobs(args.warmup_images, config.image_size, generator)
    images = blobs(args.images, config.image_size, generator)
    size = config.image_size
    fallback = False
    if args.compile:
        probe_images = warmup[: args.batch] if len(warmup) else images[: args.batch]
        model.encode, encode_fell_back = compiled_or_eager(
            model.encode, lambda encode: encode_in_batches(model, probe_images, args.batch, device)
        )
        codes, rotations, translations = encode_in_batches(model, probe_images, args.batch, device)
        model.render, render_fell_back = compiled_or_eager(
            model.render,
            lambda render: render_in_batches(model, codes, rotations, translations, size, args.batch, device),
        )
        fallback = encode_fell_back or render_fell_back
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()

    def encode(data: torch.Tensor):
        return encode_in_batches(model, data, args.batch, device)

    def render(encoded) -> None:
        codes, rotations, translations = encoded
        render_in_batches(model, codes, rotations, translations, size, args.batch, device)
        zeros = torch.zeros(len(codes))
        render_in_batches(model, codes, zeros, torch.zeros(len(codes), 2), size, args.batch, device)

    with autocast:
        if args.warmup_images:
            warm = encode(warmup)
            if not args.skip_render:
                render(warm)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        encoded, encode_wall, encode_cpu = timed(lambda: encode(images), device)
        result = {
            "image_size": size,
            "codes_images_per_s": round(args.images / encode_wall, 2),
            "codes_images_per_cpu_s": round(args.images / encode_cpu, 2),
            "codes_seconds": round(encode_wall, 2),
        }
        if not args.skip_render:
            _, render_wall, render_cpu = timed(lambda: render(encoded), device)
            result.update(
                render_images_per_s=round(args.images / render_wall, 2),
                render_images_per_cpu_s=round(args.images / render_cpu, 2),
                render_seconds=round(render_wall, 2),
                stage_images_per_s=round(args.images / (encode_wall + render_wall), 2),
            )
    if name in ORIGINAL_ENCODER_IMAGES_PER_S:
        anchor = ORIGINAL_ENCODER_IMAGES_PER_S[name]
        result["original_encoder_images_per_s"] = anchor
        result["codes_vs_original_encoder"] = round(args.images / encode_wall / anchor, 2)
    if device.type == "cuda":
        result["peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if args.compile:
        result["compile_fallback"] = fallback
    return result


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    results = {name: measure(name, args, device) for name in args.configs}
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name()
    else:
        device_name = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(
        json.dumps(
            {
                "device": device.type,
                "device_name": device_name,
                "bf16": args.bf16,
                "fold_bn": args.fold_bn,
                "channels_last": args.channels_last,
                "pack": args.pack,
                "compile": args.compile,
                "batch": args.batch,
                "images": args.images,
                "configs": results,
                "peak_cpu_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # KiB on Linux
                "torch": torch.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
