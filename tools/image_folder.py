"""Write a folder of images, one subfolder per class, from data this project reads: what a
user of the ``images`` domain brings, built from files we have, so that the domain's
numbers in the README can be regenerated.

    python tools/image_folder.py digits ../shared/data/mnist data/01_raw/images_digits
    python tools/image_folder.py wafers ../shared/data/wm811k/LSWMD_lots_2k.pkl data/01_raw/images_wafers

* ``digits``: MNIST test digits (``t10k-*`` IDX files in the source folder) ``--start`` ..
  ``--start + --count``, each centred on a ``--size`` canvas and turned by its own seeded
  uniform angle (bilinear), written as 8-bit grayscale PNG: images already at random
  orientations, as the ``images`` domain expects by default.
* ``wafers``: the labelled wafer maps of an LSWMD-style pickle (``none`` left out), each
  turned by its own seeded angle (nearest neighbour) and written as an RGB PNG in a
  wafer-inspection colour map (no die grey, good die green, defective die red), the way
  engineers export them.

Files are named ``<class>/<index>.png``; an existing non-empty output folder is an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from irl_inr.domains.mnist_u.front_end import pad_to_canvas
from irl_inr.domains.mnist_u.idx import read_idx_pair
from irl_inr.domains.wm811k.conversion import checked_die_states, read_wafer_frame, unwrap_text
from irl_inr.domains.wm811k.front_end import DIE_COLOURS, resize_nearest
from irl_inr.geometry import transform_images


def _angles(count: int, seed: int) -> torch.Tensor:
    return torch.rand(count, generator=torch.Generator().manual_seed(seed)) * 2 * np.pi


def digit_images(source: Path, start: int, count: int, size: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """uint8 (count, size, size) turned digits and their class names ('0' .. '9')."""
    digits, labels = read_idx_pair(source / "t10k-images-idx3-ubyte.gz", source / "t10k-labels-idx1-ubyte.gz")
    if start + count > len(digits):
        raise ValueError(f"{source}: {len(digits)} digits, fewer than --start {start} + --count {count}")
    canvas = pad_to_canvas(digits[start : start + count], size)  # (N, 1, S, S) in [0, 1]
    turned = transform_images(canvas, _angles(count, seed))
    pixels = (turned.squeeze(1).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return pixels, [str(int(label)) for label in labels[start : start + count]]


def wafer_images(source: Path, size: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """uint8 RGB (N, size, size, 3) turned, coloured wafer maps and their failure types."""
    frame = read_wafer_frame(source)
    maps, names = [], []
    for row_id, row in frame.iterrows():
        failure = unwrap_text(row["failureType"], source, int(row_id), "failureType")
        if failure in (None, "", "none"):
            continue
        maps.append(resize_nearest(checked_die_states(row["waferMap"], source, int(row_id)), size))
        names.append(failure)
    states = torch.from_numpy(np.stack(maps)).float().unsqueeze(1)
    turned = transform_images(states, _angles(len(maps), seed), mode="nearest").squeeze(1).round().long().numpy()
    palette = np.array([[int(colour[i : i + 2], 16) for i in (1, 3, 5)] for colour in DIE_COLOURS], dtype=np.uint8)
    return palette[turned], names


def write_folder(images: np.ndarray, classes: list[str], folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder}: exists and is not empty; name a new folder")
    for index, (pixels, name) in enumerate(zip(images, classes)):
        (folder / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / name / f"{index:05d}.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("digits", "wafers"))
    parser.add_argument("source", type=Path, help="the MNIST folder (digits) or the LSWMD pickle (wafers)")
    parser.add_argument("output", type=Path, help="the folder to write (must not exist or be empty)")
    parser.add_argument("--start", type=int, default=5000, help="digits: the first test digit")
    parser.add_argument("--count", type=int, default=5000, help="digits: how many")
    parser.add_argument("--size", type=int, default=None, help="image side in pixels (digits 40, wafers 64)")
    parser.add_argument("--seed", type=int, default=0, help="the rotations")
    args = parser.parse_args(argv)
    if args.kind == "digits":
        images, classes = digit_images(args.source, args.start, args.count, args.size or 40, args.seed)
    else:
        images, classes = wafer_images(args.source, args.size or 64, args.seed)
    write_folder(images, classes, args.output)
    print(f"{args.output}: {len(images)} images in {len(set(classes))} class folders", file=sys.stderr)


if __name__ == "__main__":
    main()
