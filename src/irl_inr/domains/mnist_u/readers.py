"""MNIST IDX image files as new images to predict on (``.gz`` too)."""

from __future__ import annotations

from pathlib import Path

from kedro.io.core import DatasetError

from irl_inr.domains.domain import RawImageBatch
from irl_inr.domains.mnist_u.idx import IdxFormatError, read_idx_images


class IdxReader:
    """uint8 digits (N, 28, 28) of an IDX image file, read whole when opened (an IDX file
    holds a few tens of megabytes at most)."""

    format = "idx"
    reads_folders = False

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._digits = read_idx_images(path)
        except IdxFormatError as error:
            raise DatasetError(str(error)) from error

    @staticmethod
    def matches(path: Path) -> bool:
        """IDX files end in ``-ubyte`` or ``.idx``, optionally ``.gz``."""
        name = path.name.lower().removesuffix(".gz")
        return name.endswith("-ubyte") or name.endswith(".idx")

    @property
    def total(self) -> int:
        return len(self._digits)

    def read(self, start: int, stop: int) -> RawImageBatch:
        sources = [f"{self.path.name}[{index}]" for index in range(start, stop)]
        return RawImageBatch(self.format, self._digits[start:stop], sources)
