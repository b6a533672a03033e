"""A folder of images: which files it holds, what labels them, and each image decoded to
float32, gray (H, W) or colour (3, H, W).

The folder's layout: image files in the folder itself or in one level of subfolders (a
subfolder per class when there is no ``labels.csv``); names starting with a dot (hidden
files and folders) are ignored; any other file is skipped and counted in one warning.
Formats: PNG, JPEG, TIFF and BMP through Pillow (the first frame of a multi-page TIFF or
an animated PNG, with a warning naming the file; turned upright as its EXIF orientation
says, as image viewers show it), and NumPy ``.npy`` arrays: a gray image (H, W) or stack
(N, H, W), a colour image (H, W, 3 or 4) or stack (N, H, W, 3 or 4) (R, G, B and alpha
last; a 3-D array whose last side is 3 or 4 is one colour image).

Gray or colour, by what a file stores: colour modes (RGB, RGBA, CMYK, YCbCr, ...), a
palette image any of whose pixels has a colour that is not gray (R = G = B), and colour
``.npy`` arrays are colour, (3, H, W) R, G, B; every other image is gray (H, W): one
channel (1, L, I;16, I, F), gray with alpha (LA) and a palette image of grays, the last
two turned into their luminance (0.299 R + 0.587 G + 0.114 B, ITU-R 601, as Pillow's
``L``). Alpha, and a gray image's transparent value, is composited on black (the black
the front end pads with), gray or colour.

Values: 8-bit images scale by 255 and 16-bit ones by 65535 into [0, 1]. 32-bit float
TIFFs and ``.npy`` bools (0, 1), floats and integers other than uint8 / uint16 keep their
values (the front end's normalisation maps them to [0, 1]; a float ``.npy``'s alpha is
taken as it is); a NaN, an infinity or a float beyond float32's range is an error naming
the file and the image. Every problem with a file is an :class:`ImageFileError` naming
it."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import hashlib
import io
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
STACK_SUFFIX = ".npy"
IMAGE_SUFFIXES = (*PILLOW_SUFFIXES, STACK_SUFFIX)
LABELS_CSV = "labels.csv"
LABELS_COLUMNS = ("file", "label")
LUMINANCE = (0.299, 0.587, 0.114)  # ITU-R 601 weights of R, G, B
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
GRAY_MODES = ("1", "L", "LA", "La", "I", "F", *SIXTEEN_BIT_MODES)
PALETTE_MODES = ("P", "PA")  # gray or colour by the colours their pixels take
ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
MULTI_FRAME_FORMATS = ("TIFF", "PNG")  # pages and animation frames, warned about (a JPEG's MPO previews are not)
COLOUR_CHANNELS = (3, 4)  # the last axis of a colour .npy array (R, G, B and alpha)
_NAMED = 5  # files named in a log line or error about many
_HASH_BLOCK_BYTES = 1 << 20


class ImageFileError(ValueError):
    """A folder or file that cannot be read as images; the message names it."""


def is_image_name(name: str) -> bool:
    """Whether a file's name says it is an image this domain reads."""
    return name.lower().endswith(IMAGE_SUFFIXES)


def _named(names: Sequence[str]) -> str:
    return ", ".join(names[:_NAMED]) + (", ..." if len(names) > _NAMED else "")


# ------------------------------------------------------------------------------ listing


@dataclasses.dataclass(frozen=True)
class FolderListing:
    """What a folder holds: ``files``, its image files ('/'-separated paths relative to the
    folder, sorted); ``skipped``, everything else that is not hidden (a trailing '/' marks a
    folder below a subfolder); ``labels_csv``, whether it holds ``labels.csv``."""

    folder: Path
    files: tuple[str, ...]
    skipped: tuple[str, ...]
    labels_csv: bool

    def warn_skipped(self) -> None:
        """One warning line counting the skipped entries (none: no line)."""
        if self.skipped:
            logger.warning(
                "%s: skipped %d entr%s that %s not an image (%s) or a class folder: %s", self.folder,
                len(self.skipped), "y" if len(self.skipped) == 1 else "ies", "is" if len(self.skipped) == 1 else "are",
                " ".join(IMAGE_SUFFIXES), _named(self.skipped),
            )


def _checked_entry(path: Path) -> os.stat_result:
    """``path``'s status through any symbolic link; a loop or a dangling link is an error."""
    try:
        return path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ImageFileError(f"{path}: a symbolic link loop (it leads back to itself)") from error
        if error.errno == errno.ENOENT and path.is_symlink():
            raise ImageFileError(f"{path}: a symbolic link to nothing ({os.readlink(path)} does not exist)") from error
        raise ImageFileError(f"{path}: cannot be read ({error.strerror})") from error


def _visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` whose names do not start with a dot, sorted by name."""
    try:
        return sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))
    except OSError as error:
        raise ImageFileError(f"{folder}: cannot list the folder ({error.strerror})") from error


def list_folder(folder: Path) -> FolderListing:
    """The image files of ``folder`` and of its subfolders (one level; see the module
    docstring). A subfolder that links back to the folder or above it is an error (a loop)."""
    if not folder.exists() and not folder.is_symlink():
        raise ImageFileError(f"no folder at {folder}")
    _checked_entry(folder)
    if not folder.is_dir():
        raise ImageFileError(f"{folder}: is a file, not a folder of images")
    root = folder.resolve()
    files, skipped, labels_csv = [], [], False
    for entry in _visible(folder):
        if stat.S_ISDIR(_checked_entry(entry).st_mode):
            if root.is_relative_to(entry.resolve()):
                raise ImageFileError(f"{entry}: a symbolic link loop (it leads back to {entry.resolve()})")
            for inner in _visible(entry):
                relative = f"{entry.name}/{inner.name}"
                if stat.S_ISDIR(_checked_entry(inner).st_mode):
                    skipped.append(relative + "/")
                elif is_image_name(inner.name):
                    files.append(relative)
                else:
                    skipped.append(relative)
        elif entry.name == LABELS_CSV:
            labels_csv = True
        elif entry.name.lower() == LABELS_CSV:
            raise ImageFileError(f"{entry}: name it {LABELS_CSV} (lower case) for its labels to be read")
        elif is_image_name(entry.name):
            files.append(entry.name)
        else:
            skipped.append(entry.name)
    return FolderListing(folder, tuple(sorted(files)), tuple(skipped), labels_csv)


# ------------------------------------------------------------------------------- labels


def _csv_labels(listing: FolderListing) -> dict[str, str]:
    """``labels.csv``: file -> label for every row (UTF-8, a header row naming at least
    ``file`` and ``label``); a missing column, an empty cell, a file that is not an image of
    the folder or a file listed twice is an error naming the CSV and the row's line, and so
    is a CSV without rows."""
    path = listing.folder / LABELS_CSV
    known = set(listing.files)
    labels: dict[str, str] = {}
    first_line: dict[str, int] = {}
    with io.TextIOWrapper(open_file(path), encoding="utf-8-sig", newline="") as text:
        try:
            reader = csv.DictReader(text)
            missing = [name for name in LABELS_COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise ImageFileError(f"{path}, line 1: no column {' or '.join(map(repr, missing))} (columns: "
                                     f"{reader.fieldnames or []}); the header row must name the columns file,label")
            for row in reader:
                where = f"{path}, line {reader.line_num}"
                file, label = (row["file"] or "").strip(), (row["label"] or "").strip()
                if not file or not label:
                    raise ImageFileError(f"{where}: the {'file' if not file else 'label'} cell is empty")
                if file in first_line:
                    raise ImageFileError(f"{where}: {file!r} is listed again (first on line {first_line[file]})")
                if file not in known:
                    raise ImageFileError(f"{where}: {file!r} is not an image file of {listing.folder} (file paths "
                                         "are relative to that folder, '/'-separated)")
                labels[file], first_line[file] = label, reader.line_num
        except (UnicodeDecodeError, csv.Error) as error:
            raise ImageFileError(f"{path}: not a readable UTF-8 CSV file ({error})") from error
    if not labels:
        raise ImageFileError(f"{path}: names no image (a header row alone); give a row file,label for each image, "
                             "or remove the file to label the images by their folders")
    return labels


def class_names(listing: FolderListing) -> dict[str, str | None]:
    """File -> class name, in file order: from ``labels.csv`` when the folder holds one
    (images it does not name are left out, counted in a warning); else the subfolder of
    every image; else None for every image (unlabelled). Images both in the folder itself
    and in subfolders, without a CSV, are an error."""
    if listing.labels_csv:
        labels = _csv_labels(listing)
        unnamed = [file for file in listing.files if file not in labels]
        if unnamed:
            logger.warning("%s: left out %d image file(s) that %s does not name: %s", listing.folder, len(unnamed),
                           LABELS_CSV, _named(unnamed))
        return {file: labels[file] for file in listing.files if file in labels}
    top = [file for file in listing.files if "/" not in file]
    nested = [file for file in listing.files if "/" in file]
    if top and nested:
        raise ImageFileError(
            f"{listing.folder}: holds images both in itself ({_named(top)}) and in subfolders ({_named(nested)}); "
            f"put every image in a class folder, or name each one's label in {LABELS_CSV} (columns file,label)"
        )
    return {file: file.split("/")[0] if nested else None for file in listing.files}


# ------------------------------------------------------------------------------ reading


def open_file(path: Path) -> BinaryIO:
    """``path`` opened for reading bytes; a file that cannot be opened is an error naming it."""
    try:
        return open(path, "rb")
    except OSError as error:
        raise ImageFileError(f"{path}: cannot be read ({error.strerror})") from error


def file_sha256(path: Path) -> str:
    """SHA-256 of the whole file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open_file(path) as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _not_empty(path: Path) -> None:
    if _checked_entry(path).st_size == 0:
        raise ImageFileError(f"{path}: is empty (0 bytes)")


def _is_colour_stack(array: np.ndarray) -> bool:
    """Whether a checked ``.npy`` array holds colour images: (H, W, 3 or 4) or (N, H, W, 3 or 4)."""
    return array.ndim == 4 or (array.ndim == 3 and array.shape[-1] in COLOUR_CHANNELS)


def _stack(path: Path) -> np.ndarray:
    """A ``.npy`` file memory-mapped, checked: numbers, gray (H, W) or (N, H, W) or colour
    (H, W, 3 or 4) or (N, H, W, 3 or 4)."""
    _not_empty(path)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ImageFileError(f"{path}: not a readable .npy array ({error})") from error
    if array.ndim not in (2, 3, 4) or array.size == 0 or (array.ndim == 4 and array.shape[-1] not in COLOUR_CHANNELS):
        raise ImageFileError(f"{path}: holds an array of shape {array.shape}; images are gray (H, W) or (N, H, W), "
                             "or colour (H, W, 3 or 4) or (N, H, W, 3 or 4)")
    if array.dtype.kind not in "buif":
        raise ImageFileError(f"{path}: holds {array.dtype} values; images are numbers")
    return array


def frame_count(path: Path) -> int:
    """Images in a file: 1, or N for a ``.npy`` stack (read from its header)."""
    if not path.name.lower().endswith(STACK_SUFFIX):
        return 1
    array = _stack(path)
    return 1 if array.ndim == 2 or (array.ndim == 3 and _is_colour_stack(array)) else len(array)


def holds_colour(path: Path) -> bool:
    """Whether a file's images are colour (see the module docstring): from a ``.npy``
    header or an image file's mode (a palette image's pixels are decoded to tell)."""
    if path.name.lower().endswith(STACK_SUFFIX):
        return _is_colour_stack(_stack(path))
    with _opened_image(path) as image:
        return _is_colour(image)


def _colour_channels(values: np.ndarray, scale: float) -> np.ndarray:
    """Colour (H, W, 3 or 4) -> float32 (3, H, W): R, G, B / ``scale``, times alpha / ``scale``
    where there is alpha (composited on black)."""
    channels = np.empty((3, *values.shape[:2]), dtype=np.float32)
    for channel in range(3):
        channels[channel] = values[..., channel].astype(np.float32) / np.float32(scale)
    if values.shape[-1] == 4:
        channels *= values[..., 3].astype(np.float32) / np.float32(scale)
    return channels


def _stack_pixels(array: np.ndarray, path: Path, frame: int) -> np.ndarray:
    """One image of a ``.npy`` array -> float32 gray (H, W) or colour (3, H, W) (uint8 / 255,
    uint16 / 65535, bool as 0/1, other numbers as they are); a NaN, an infinity or a float
    beyond float32's range is an error naming the file and the image."""
    colour = _is_colour_stack(array)
    single = array.ndim == 2 or (array.ndim == 3 and colour)
    pixels = np.asarray(array if single else array[frame])
    if pixels.dtype.kind == "f":
        if not np.isfinite(pixels).all():
            raise ImageFileError(f"{path}[{frame}]: holds NaN or infinite values")
        largest = float(np.abs(pixels).max())
        if largest > float(np.finfo(np.float32).max):
            raise ImageFileError(f"{path}[{frame}]: holds values beyond float32's range (largest magnitude "
                                 f"{largest:.3g}); scale them first")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(pixels.dtype.newbyteorder("="), 1.0)
    if colour:
        return _colour_channels(pixels, scale)
    return pixels.astype(np.float32) / np.float32(scale)


def _single_channel_gray(image: Image.Image, path: Path) -> np.ndarray:
    """A one-channel Pillow image (modes ``1``, ``L``, 16-bit, ``I``, ``F``) -> float32 gray;
    the pixels of the gray value a file marks transparent (PNG's tRNS) set to 0 (black)."""
    mode = image.mode
    if mode == "F":
        gray = np.asarray(image, dtype=np.float32)
        if not np.isfinite(gray).all():
            raise ImageFileError(f"{path}: holds NaN or infinite values")
        return gray
    values = np.asarray(image.convert("L") if mode == "1" else image)  # (H, W) uint8, uint16 or int32
    if mode == "I" and (values.min() < 0 or values.max() > 65535):  # 16-bit images some decoders open as "I"
        raise ImageFileError(f"{path}: 32-bit integer pixels outside 0..65535, which are not read")
    gray = values.astype(np.float32) / np.float32(255.0 if mode in ("1", "L") else 65535.0)
    transparent = image.info.get("transparency")
    if isinstance(transparent, int):
        gray[values == transparent] = 0.0
    return gray


def _is_colour(image: Image.Image) -> bool:
    """Whether a Pillow image is colour: any mode but the gray ones, a palette image only
    when one of its pixels is not gray (R = G = B)."""
    if image.mode in GRAY_MODES:
        return False
    if image.mode not in PALETTE_MODES:
        return True
    rgb = np.asarray(image.convert("RGB"))
    return not ((rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])).all()


def _pillow_gray(image: Image.Image, path: Path) -> np.ndarray:
    """A decoded gray Pillow image -> float32 (H, W) (see the module docstring)."""
    mode = image.mode
    if mode in ("1", "L", "I", "F", *SIXTEEN_BIT_MODES):
        return _single_channel_gray(image, path)
    has_alpha = mode in ALPHA_MODES or "transparency" in image.info
    colour = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))  # uint8 (H, W, 3 or 4)
    gray = np.zeros(colour.shape[:2], dtype=np.float32)  # channel by channel: 4 bytes a pixel at most
    for channel, weight in enumerate(LUMINANCE):
        gray += colour[..., channel] * np.float32(weight / 255.0)
    if has_alpha:
        gray *= colour[..., 3] * np.float32(1 / 255.0)  # composited on black
    return gray


def _pillow_colour(image: Image.Image) -> np.ndarray:
    """A decoded colour Pillow image -> float32 (3, H, W) R, G, B in [0, 1], alpha (and a
    palette's transparent colour) composited on black."""
    has_alpha = image.mode in ALPHA_MODES or "transparency" in image.info
    return _colour_channels(np.asarray(image.convert("RGBA" if has_alpha else "RGB")), 255.0)


@contextlib.contextmanager
def _opened_image(path: Path) -> Iterator[Image.Image]:
    """An image file opened by Pillow (its header read); any failure of the decoder while
    it is open (a damaged file or EXIF block raises many kinds) is an error naming the file."""
    _not_empty(path)
    with open_file(path) as handle:
        try:
            with Image.open(handle) as image:
                yield image
        except (ImageFileError, MemoryError):
            raise
        except Exception as error:  # Pillow's decoders raise OSError, ValueError, SyntaxError, struct.error, ...
            raise ImageFileError(f"{path}: not a readable image ({str(error) or type(error).__name__})") from error


def _decoded(path: Path) -> tuple[np.ndarray, str]:
    """The first frame of an image file Pillow reads, as float32 gray (H, W) or colour
    (3, H, W), and its mode."""
    with _opened_image(path) as image:
        image.load()  # a truncated or damaged file fails here, not later
        if image.format in MULTI_FRAME_FORMATS and getattr(image, "n_frames", 1) > 1:
            logger.warning("%s: holds %d frames (pages); only the first is read", path, image.n_frames)
        upright = ImageOps.exif_transpose(image)
        return _pillow_colour(upright) if _is_colour(upright) else _pillow_gray(upright, path), image.mode


def read_frames(path: Path, frames: Sequence[int]) -> Iterator[tuple[np.ndarray, str]]:
    """Images ``frames`` of the file as float32 gray (H, W) or colour (3, H, W), each with
    the mode it was stored in (Pillow's mode, ``RGBA``, ``I;16``, ...; ``npy uint8`` ...)."""
    if path.name.lower().endswith(STACK_SUFFIX):
        array = _stack(path)
        for frame in frames:
            yield _stack_pixels(array, path, frame), f"npy {array.dtype.name}"
        return
    pixels, mode = _decoded(path)
    for _ in frames:
        yield pixels, mode
