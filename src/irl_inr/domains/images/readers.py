"""Images of every format this domain reads (PNG, JPEG, TIFF, BMP, ``.npy``) as new images
to predict on: one file or a folder of them."""

from __future__ import annotations

import itertools
from pathlib import Path

from kedro.io.core import DatasetError

from irl_inr.domains.domain import RawImageBatch
from irl_inr.domains.images.reading import (
    IMAGE_SUFFIXES,
    STACK_SUFFIX,
    ImageFileError,
    frame_count,
    is_image_name,
    list_folder,
    read_frames,
)

# What ``format: auto`` gives this reader: every suffix but .png, which the shared PNG reader takes.
MATCHED_SUFFIXES = tuple(suffix for suffix in IMAGE_SUFFIXES if suffix != ".png")


class ImageFileReader:
    """Each image of a file or folder, in file order (a folder as ingestion lists it: its
    image files and those of its subfolders, one level, sorted; ``labels.csv`` and other
    files skipped, counted in a warning), as float32 gray (H, W) or colour (3, H, W) of its
    own size, as stored (:mod:`irl_inr.domains.images.reading`; ``prepare_images`` brings
    them to the channels of the ingested set). Sources name the file relative to the
    folder, and a ``.npy`` stack's images ``file[index]``."""

    format = "images"
    reads_folders = True

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            if path.is_dir():
                listing = list_folder(path)
                listing.warn_skipped()
                files = [(path / name, name) for name in listing.files]
                if not files:
                    raise ImageFileError(f"{path}: holds no image file ({' '.join(IMAGE_SUFFIXES)})")
            elif is_image_name(path.name):
                files = [(path, path.name)]
            else:
                raise ImageFileError(f"{path}: not an image file this domain reads ({' '.join(IMAGE_SUFFIXES)})")
            self._images = [
                (file, frame, f"{name}[{frame}]" if name.lower().endswith(STACK_SUFFIX) else name)
                for file, name in files for frame in range(frame_count(file))
            ]
        except ImageFileError as error:
            raise DatasetError(str(error)) from error

    @staticmethod
    def matches(path: Path) -> bool:
        return path.name.lower().endswith(MATCHED_SUFFIXES)

    @property
    def total(self) -> int:
        return len(self._images)

    def read(self, start: int, stop: int) -> RawImageBatch:
        images = self._images[start:stop]
        try:  # each file opened once for all its images in the range (a .npy stack's frames)
            pixels = [
                decoded
                for file, group in itertools.groupby(images, key=lambda image: image[0])
                for decoded, _ in read_frames(file, [frame for _, frame, _ in group])
            ]
        except ImageFileError as error:
            raise DatasetError(str(error)) from error
        return RawImageBatch(self.format, pixels, [source for _, _, source in images])
