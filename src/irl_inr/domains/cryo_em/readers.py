"""MRC/MRCS particle stacks as new images to predict on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from kedro.io.core import DatasetError

from irl_inr.domains.cryo_em.mrc import MrcFormatError, read_mrc_header, read_particle_stack
from irl_inr.domains.domain import RawImageBatch


class MrcReader:
    """float32 particles of an MRC/MRCS stack, read through a memory map one range at a time."""

    format = "mrc"
    reads_folders = False

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._total = read_mrc_header(path).shape[0]
        except MrcFormatError as error:
            raise DatasetError(str(error)) from error

    @staticmethod
    def matches(path: Path) -> bool:
        return path.suffix.lower() in (".mrc", ".mrcs")

    @property
    def total(self) -> int:
        return self._total

    def read(self, start: int, stop: int) -> RawImageBatch:
        try:
            pixels = read_particle_stack(self.path, np.arange(start, stop))
        except MrcFormatError as error:
            raise DatasetError(str(error)) from error
        return RawImageBatch(self.format, pixels, [f"{index + 1}@{self.path.name}" for index in range(start, stop)])
