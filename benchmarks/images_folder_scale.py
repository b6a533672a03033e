"""The images domain on a large folder: time and peak memory of reading, the decoded cache
and ingestion, on a synthetic folder of PNG images.

    nice -n 19 python benchmarks/images_folder_scale.py                  # 100,000 PNGs of 256x256
    nice -n 19 python benchmarks/images_folder_scale.py --count 20000 --workdir /tmp
    python benchmarks/images_folder_scale.py --smoke                     # seconds: does it still run?

Writes ``--count`` PNG images of ``--size`` x ``--size`` pixels into ``--classes`` class
folders of a temporary folder under ``--workdir`` (deleted afterwards): smooth random
shapes (a tilted gradient under four Gaussian ellipses), ``--colour-share`` of them RGB
(every shape its own colour), the others gray, saved with zlib's fastest compression
(level 1); ``--workers`` processes each generate and save one image at a time, seeded by
its index (the same folder every time, memory that does not grow with the count). With
``--distinct D``, only the first D are generated and image i is a copy of image i mod D
(a file of its own, decoded like any other): generating costs ten times reading here, so
a folder of 100,000 is written in minutes. Then, each step in a fresh child process (peak RSS = its
``VmHWM``; wall and CPU seconds of the step itself, imports excluded; ``--threads`` BLAS
and torch threads):

* ``decode``: the first ``ImageFolderDataset.load`` (listing the folder, the SHA-256 of
  every file, the colour probe, and decoding one image at a time into the cache
  directory at ``--cache-size``);
* ``reload``: a later load (listing and hashing again; the cache memory-mapped);
* ``ingest``: a load, ``ingest_images`` at ``--image-size`` (``images.ingestion``
  defaults otherwise: ``channels: auto``, so colour when any image is) and
  ``prepared_images`` written by the catalog's ``NumpyDataset``;
* ``pose``: ``pose_images`` (rotation and a 2-pixel shift) of the memory-mapped prepared
  images, and ``images`` written as the pipeline writes it.

Prints one JSON line for the folder (files, MiB on disk, generation seconds) and one per
step, with the cache's size on disk (``cache_mb``) and the step's output (``output_mb``),
all sizes in MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

STEPS = ("decode", "reload", "ingest", "pose")
SHAPES = 4  # Gaussian ellipses an image
PNG_COMPRESSION = 1  # zlib's fastest: 3x faster to write than Pillow's default 6, files a third larger
PNG_BYTES_PER_PIXEL = 0.8  # room kept on disk for a PNG of smooth shapes (they take 0.2 to 0.6)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="images in the folder")
    parser.add_argument("--size", type=int, default=256, help="side of every image in pixels")
    parser.add_argument("--colour-share", type=float, default=0.5, help="share of RGB images (the rest gray)")
    parser.add_argument("--distinct", type=int, default=None,
                        help="images generated (default all); the others are copies of them, file by file")
    parser.add_argument("--classes", type=int, default=10, help="class folders")
    parser.add_argument("--cache-size", type=int, default=64, help="images.raw_images cache_size")
    parser.add_argument("--image-size", type=int, default=32, help="images.ingestion.image_size")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes writing the folder")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads of every step")
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the temporary folder (GBs at full size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="seconds: 40 images of 64x64 (CI runs this)")
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.count, args.size, args.cache_size, args.image_size, args.workers, args.distinct = 40, 64, 32, 16, 1, 30
    args.distinct = min(args.distinct or args.count, args.count)
    return args


# ------------------------------------------------------------------------ the synthetic folder


def synthetic_image(index: int, size: int, colour: bool, seed: int) -> np.ndarray:
    """uint8 (size, size) or (size, size, 3): a tilted gradient under Gaussian ellipses,
    seeded by ``index`` (float32 throughout: generating must not be slower than reading)."""
    rng = np.random.default_rng([seed, index])
    channels = 3 if colour else 1
    y, x = np.ogrid[:size, :size]
    y, x = ((y + 0.5) / size).astype(np.float32), ((x + 0.5) / size).astype(np.float32)
    gradient = 1 + np.float32(rng.uniform(-1, 1)) * x + np.float32(rng.uniform(-1, 1)) * y  # (size, size)
    image = rng.uniform(0.0, 0.3, (channels, 1, 1)).astype(np.float32) * gradient
    for _ in range(SHAPES):
        centre_y, centre_x = rng.uniform(0.2, 0.8, 2)
        sigma_u, sigma_v = rng.uniform(0.03, 0.15, 2)
        angle = rng.uniform(0, np.pi)
        cosine, sine = np.float32(np.cos(angle)), np.float32(np.sin(angle))
        u = ((x - np.float32(centre_x)) * cosine + (y - np.float32(centre_y)) * sine) / np.float32(sigma_u)
        v = ((y - np.float32(centre_y)) * cosine - (x - np.float32(centre_x)) * sine) / np.float32(sigma_v)
        image += rng.uniform(0.3, 1.0, (channels, 1, 1)).astype(np.float32) * np.exp(-0.5 * (u * u + v * v))
    pixels = np.round(image * np.float32(255 / image.max())).astype(np.uint8)
    return np.moveaxis(pixels, 0, -1) if colour else pixels[0]


def image_path(folder: Path, index: int, classes: int) -> Path:
    return folder / f"class {index % classes}" / f"{index:06d}.png"


def write_one(task: tuple[Path, int, argparse.Namespace]) -> int:
    """Image ``index`` of the folder written as PNG (or copied from the distinct image it
    repeats); its size in bytes."""
    from PIL import Image

    folder, index, args = task
    path = image_path(folder, index, args.classes)
    if index >= args.distinct:
        shutil.copyfile(image_path(folder, index % args.distinct, args.classes), path)
    else:
        colour = np.random.default_rng([args.seed, index, 1]).random() < args.colour_share
        pixels = synthetic_image(index, args.size, colour, args.seed)
        Image.fromarray(pixels).save(path, compress_level=PNG_COMPRESSION)
    return path.stat().st_size


def write_folder(folder: Path, args: argparse.Namespace) -> dict:
    for label in range(args.classes):
        (folder / f"class {label}").mkdir(parents=True)
    start = time.perf_counter()
    with Pool(args.workers) as pool:  # the distinct images first: the copies read them
        total = sum(pool.imap_unordered(write_one, ((folder, index, args) for index in range(args.distinct)), 64))
        total += sum(pool.imap_unordered(write_one, ((folder, index, args) for index in range(args.distinct,
                                                                                              args.count)), 256))
    return {"step": "folder", "images": args.count, "distinct": args.distinct, "size": args.size,
            "colour_share": args.colour_share, "folder_mb": round(total / 2**20, 1),
            "generate_s": round(time.perf_counter() - start, 1), "workers": args.workers}


def needed_bytes(args: argparse.Namespace) -> float:
    """A generous estimate of the disk the run takes: the PNGs, a colour cache and outputs."""
    per_image = args.size**2 * PNG_BYTES_PER_PIXEL + 4 * 3 * (args.cache_size**2 + 2 * args.image_size**2)
    return args.count * per_image


# ------------------------------------------------------------------------ the measured steps


def peak_rss_mb() -> float:
    """This process's peak resident set: ``VmHWM`` where /proc has it (``ru_maxrss`` after
    fork + exec still counts the parent's pages), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def directory_mb(path: Path) -> float:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) / 2**20


def run_step(args: argparse.Namespace) -> None:
    """In the child: one step, then its numbers as one JSON line."""
    import torch

    from irl_inr.datasets import NumpyDataset
    from irl_inr.domains.images.datasets import ImageFolderDataset
    from irl_inr.domains.images.nodes import ingest_images, pose_images

    torch.set_num_threads(args.threads)
    root = args.root
    dataset = ImageFolderDataset(str(root / "folder"), str(root / "cache"), cache_size=args.cache_size)
    imports_mb = peak_rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    output = None
    if args.step in ("decode", "reload"):
        images = len(dataset.load()["table"])
    elif args.step == "ingest":
        prepared, table, _ = ingest_images(dataset.load(), {"image_size": args.image_size})
        NumpyDataset(str(root / "prepared_images.npy")).save(prepared)
        images, output = len(table), root / "prepared_images.npy"
    else:
        import pandas as pd

        prepared = NumpyDataset(str(root / "prepared_images.npy"), mmap=True).load()
        table = pd.DataFrame({"image_id": np.arange(len(prepared)), "label": 0, "label_name": "x", "split": "train"})
        posed, _ = pose_images(prepared, table, {"rotate": True, "max_shift_pixels": 2.0})
        NumpyDataset(str(root / "images.npy")).save(posed)
        images, output = len(posed), root / "images.npy"
    record = {"step": args.step, "images": images, "seconds": round(time.perf_counter() - start, 2),
              "cpu_seconds": round(time.process_time() - cpu_start, 2), "peak_rss_mb": round(peak_rss_mb(), 1),
              "rss_after_imports_mb": round(imports_mb, 1), "cache_mb": round(directory_mb(root / "cache"), 1)}
    if output is not None:
        shape = np.load(output, mmap_mode="r").shape
        record.update(output_mb=round(output.stat().st_size / 2**20, 1), output_shape=list(shape))
    print(json.dumps(record), flush=True)


def measure(step: str, root: Path, args: argparse.Namespace) -> None:
    threads = str(args.threads)
    environment = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                       KEDRO_DISABLE_TELEMETRY="1")
    command = [sys.executable, __file__, "--step", step, "--root", str(root), "--cache-size", str(args.cache_size),
               "--image-size", str(args.image_size), "--threads", threads]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if completed.returncode != 0:
        raise SystemExit(f"{step} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    print(completed.stdout.strip().splitlines()[-1], flush=True)


def main() -> None:
    args = parse_args()
    if args.step:
        run_step(args)
        return
    with tempfile.TemporaryDirectory(prefix="images_scale_", dir=args.workdir) as temporary:
        root = Path(temporary)
        free, needed = shutil.disk_usage(root).free, needed_bytes(args)
        if free < needed:
            raise SystemExit(f"{root}: {free / 2**30:.1f} GiB free, about {needed / 2**30:.1f} GiB needed for "
                             f"--count {args.count} --size {args.size}: pick another --workdir or a smaller --count")
        print(json.dumps(write_folder(root / "folder", args)), flush=True)
        for step in STEPS:
            measure(step, root, args)


if __name__ == "__main__":
    main()
