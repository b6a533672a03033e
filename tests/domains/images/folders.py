"""Folders of images for the images domain's tests, written from real data beside the
checkout: MNIST test digits (IDX) and WM-811K wafer maps (the 200-wafer sample), as PNG,
JPEG, TIFF (8 and 16 bit), BMP and ``.npy``, gray or through a matplotlib colour map."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

from irl_inr.domains.mnist_u.idx import read_idx_pair
from irl_inr.domains.wm811k.pickle_reader import read_wafer_frame


def mnist_digits(shared_data: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` MNIST test digits, uint8 (count, 28, 28), and their labels."""
    folder = shared_data / "mnist"
    digits, labels = read_idx_pair(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    return digits[:count], labels[:count]


def digits_of(shared_data: Path, classes: list[int], per_class: int) -> dict[int, np.ndarray]:
    """``per_class`` MNIST test digits uint8 (per_class, 28, 28) of each class in ``classes``."""
    digits, labels = mnist_digits(shared_data, 2000)
    return {label: digits[labels == label][:per_class] for label in classes}


def wafer_maps(shared_data: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` wafer maps of the 200-wafer sample as uint8 gray (H, W) of
    their own sizes: no die 0, good die 127, defective die 254."""
    frame = read_wafer_frame(shared_data / "wm811k" / "LSWMD_sample.pkl")
    return [np.asarray(states, dtype=np.uint8) * 127 for states in frame["waferMap"].iloc[:count]]


def coloured(gray: np.ndarray, colour_map: str = "viridis") -> np.ndarray:
    """uint8 gray (H, W) -> uint8 RGB (H, W, 3) through a matplotlib colour map."""
    return (matplotlib.colormaps[colour_map](gray / 255.0)[..., :3] * 255).round().astype(np.uint8)


def write_image(path: Path, pixels: np.ndarray) -> Path:
    """``pixels`` in the format of ``path``'s suffix (``.npy``: as they are; otherwise
    through Pillow: uint8 gray or RGB(A), uint16 gray as 16-bit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, pixels)
    else:
        Image.fromarray(pixels).save(path)
    return path


# Formats a digit folder cycles through: (suffix, how the digit is stored).
STYLES = (
    (".png", lambda gray: gray),
    (".jpg", lambda gray: coloured(gray)),
    (".tif", lambda gray: gray.astype(np.uint16) * 257),  # 16 bit
    (".bmp", lambda gray: coloured(gray, "magma")),
    (".png", lambda gray: np.dstack([coloured(gray, "cividis"), np.full(gray.shape, 255, np.uint8)])),  # RGBA
)


def write_class_folders(root: Path, digits: dict[int, np.ndarray], stack_class: int | None = None) -> Path:
    """One subfolder ``digit <label>`` per class (a space in the name), its digits in turn
    as gray PNG, colour JPEG, 16-bit TIFF, colour BMP and RGBA PNG; ``stack_class``'s
    digits instead as one ``.npy`` stack (N, 28, 28)."""
    for label, group in digits.items():
        folder = root / f"digit {label}"
        if label == stack_class:
            write_image(folder / "stack.npy", group)
            continue
        for index, gray in enumerate(group):
            suffix, stored = STYLES[index % len(STYLES)]
            write_image(folder / f"{index:03d}{suffix}", stored(gray))
    return root
