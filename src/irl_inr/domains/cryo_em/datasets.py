"""Kedro datasets for cryo-EM: particle stacks described by a RELION STAR file, and 3-D
density maps in MRC format."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io.core import AbstractDataset, DatasetError

from irl_inr.domains.cryo_em.mrc import MrcFormatError, read_mrc_header, read_particle_stack, read_volume, write_mrc
from irl_inr.domains.cryo_em.star import StarFormatError, read_particle_star, write_particle_star

logger = logging.getLogger(__name__)


class ParticleStackDataset(AbstractDataset[dict, dict]):
    """``type: irl_inr.domains.cryo_em.datasets.ParticleStackDataset`` with ``filepath: ....star``.

    Load: ``{"images": float32 (N, H, H), "particles": DataFrame, "pixel_size": float Å,
    "source": the STAR file}``
    with the particle table of :func:`irl_inr.domains.cryo_em.star.read_particle_star` (stacks found
    relative to the STAR file, else to ``project_root``, default the working directory).
    Save: the same dict -> ``<stem>.mrcs`` beside the STAR file and the STAR file (RELION
    3.1, one optics group), each written atomically, the stack first."""

    def __init__(self, filepath: str, project_root: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._project_root = project_root
        self.metadata = metadata

    def load(self) -> dict:
        try:
            particles = read_particle_star(self._filepath, self._project_root)
            images = np.empty(0, dtype=np.float32)
            for stack_path, rows in particles.groupby("stack_path", sort=False).indices.items():
                indices = particles["stack_index"].to_numpy()[rows]
                self._check_indices(particles, rows, indices, stack_path)
                stack = read_particle_stack(stack_path, indices)
                if images.size == 0:
                    images = np.empty((len(particles), *stack.shape[1:]), dtype=np.float32)
                elif stack.shape[1:] != images.shape[1:]:
                    raise DatasetError(f"{self._filepath}: row {rows[0] + 1}: {stack_path} holds {stack.shape[1:]} "
                                       f"images, other stacks {images.shape[1:]}")
                images[rows] = stack
        except (MrcFormatError, StarFormatError, FileNotFoundError) as error:
            raise DatasetError(str(error)) from error
        pixel_sizes = particles["pixel_size_angstrom"].unique()
        if len(pixel_sizes) != 1:
            raise DatasetError(f"{self._filepath}: particles of different pixel sizes {sorted(pixel_sizes)} Å; "
                               "process one optics group at a time")
        logger.info("cryo-EM: %d particles of %s px, %.3f Å/px from %s", len(images), images.shape[1:],
                    pixel_sizes[0], self._filepath)
        return {"images": images, "particles": particles, "pixel_size": float(pixel_sizes[0]), "source": str(self._filepath)}

    def _check_indices(self, particles: pd.DataFrame, rows: np.ndarray, indices: np.ndarray, stack_path: str) -> None:
        """Every image a row of the STAR file names must be in its stack."""
        count = read_mrc_header(stack_path).shape[0]
        past = np.flatnonzero(indices >= count)
        if past.size:
            row = int(rows[past[0]])
            raise DatasetError(
                f"{self._filepath}: row {row + 1}: rlnImageName {particles['image_name'].iloc[row]!r} asks for image "
                f"{indices[past[0]] + 1} of {stack_path}, which holds {count} images; fix that row, or put the "
                "stack it was written for in that place"
            )

    def save(self, data: dict) -> None:
        if not isinstance(data, dict) or not {"images", "particles"} <= data.keys():
            raise DatasetError(f"{self._filepath}: a particle stack is saved as a dict with 'images' and 'particles'")
        images, particles = np.asarray(data["images"]), data["particles"]
        if images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise DatasetError(f"{self._filepath}: particle images must be (N, H, H), got shape {images.shape}")
        if not isinstance(particles, pd.DataFrame) or len(particles) != len(images):
            raise DatasetError(f"{self._filepath}: expected a table with one row per image ({len(images)})")
        stack = self._filepath.with_suffix(".mrcs")
        write_mrc(stack, images, float(particles["pixel_size_angstrom"].iloc[0]), stack=True)
        write_particle_star(self._filepath, particles, stack.name, images.shape[-1])

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "project_root": self._project_root}


class MrcVolumeDataset(AbstractDataset[dict, dict | None]):
    """``type: irl_inr.domains.cryo_em.datasets.MrcVolumeDataset``: a cubic density map as
    ``{"volume": float32 (D, D, D) [z, y, x], "voxel_size": float Å}``, saved atomically.

    ``filepath`` may be null (or empty): then there is no map, load gives None, and the
    cryo-EM pipeline builds its phantom instead."""

    def __init__(self, filepath: str | None, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath) if filepath else None
        self.metadata = metadata

    def load(self) -> dict | None:
        if self._filepath is None:
            return None
        try:
            volume, voxel_size = read_volume(self._filepath)
        except (MrcFormatError, FileNotFoundError) as error:
            raise DatasetError(str(error)) from error
        if not voxel_size > 0:
            raise DatasetError(f"{self._filepath}: voxel size {voxel_size} Å in the header must be positive")
        return {"volume": volume, "voxel_size": voxel_size}

    def save(self, data: dict) -> None:
        if self._filepath is None:
            raise DatasetError("MrcVolumeDataset: no filepath to save to")
        if not isinstance(data, dict) or not {"volume", "voxel_size"} <= data.keys():
            raise DatasetError(f"{self._filepath}: a map is saved as a dict with 'volume' and 'voxel_size'")
        write_mrc(self._filepath, data["volume"], data["voxel_size"], stack=False)

    def _exists(self) -> bool:
        return self._filepath is not None and self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": None if self._filepath is None else str(self._filepath)}
