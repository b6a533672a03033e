"""RELION STAR particle tables (3.0: one table; 3.1+: an ``optics`` and a ``particles`` table).

:func:`read_particle_star` turns one into a clean table, one row per particle, in the
project's units and conventions (see ``irl_inr.domains.cryo_em.rotations``):

* ``stack_path`` / ``stack_index``: from ``rlnImageName`` = ``index@file.mrcs`` (1-based
  index; the file relative to the STAR file's folder, else to ``project_root``);
* ``pixel_size_angstrom``: the optics group's ``rlnImagePixelSize``, else
  ``rlnDetectorPixelSize`` (µm) * 10^4 / ``rlnMagnification``, else the MRC header's voxel
  size of the first stack (logged);
* ``angle_rot/tilt/psi_degrees``: ``rlnAngleRot/Tilt/Psi`` (NaN where absent), with
  ``rotation_radians = -radians(psi)``, the project's in-plane rotation;
* ``shift_x/y_pixels``: minus the origin, in pixels: ``-rlnOriginX`` (pixels), or
  ``-rlnOriginXAngst / pixel size``.  RELION's origin is the shift that brings the
  particle to the box centre (re-centred coordinate = coordinate - origin), so the
  particle sits at the centre *plus* ``shift``, which is the project's shift of the
  canonical image.  (The real ``relion31`` origins are below a pixel, so only the units,
  not the sign, are checked against data here.)
* CTF columns where present: ``defocus_u/v_angstrom``, ``defocus_angle_degrees``,
  ``voltage_kv``, ``spherical_aberration_mm``, ``amplitude_contrast``;
* ``view_index``: the simulator's ground-truth view, kept in this project's own column
  ``irlViewIndex`` (RELION ignores labels it does not know).

Errors name the STAR file and the 1-based data row.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from irl_inr.domains.cryo_em.rotations import psi_to_rotation_radians, rotation_radians_to_psi
from irl_inr.io.atomic import write_atomically
from irl_inr.domains.cryo_em.mrc import read_mrc_header

logger = logging.getLogger(__name__)

# STAR column -> clean column, for values copied as they are (per particle or per optics group).
_CTF_COLUMNS = {
    "rlnDefocusU": "defocus_u_angstrom",
    "rlnDefocusV": "defocus_v_angstrom",
    "rlnDefocusAngle": "defocus_angle_degrees",
    "rlnVoltage": "voltage_kv",
    "rlnSphericalAberration": "spherical_aberration_mm",
    "rlnAmplitudeContrast": "amplitude_contrast",
}
_ANGLE_COLUMNS = {"rlnAngleRot": "angle_rot_degrees", "rlnAngleTilt": "angle_tilt_degrees",
                  "rlnAnglePsi": "angle_psi_degrees"}


class StarFormatError(ValueError):
    """A STAR file that cannot describe a particle stack: missing columns, bad values,
    images that do not exist."""


def _tables(path: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(particles, optics or None) of a RELION 3.0 or 3.1+ STAR file."""
    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as error:  # starfile raises many types for a malformed file
        raise StarFormatError(f"{path}: not a readable STAR file ({error})") from error
    tables = {name: block for name, block in blocks.items() if isinstance(block, pd.DataFrame)}
    with_images = [name for name, block in tables.items() if "rlnImageName" in block.columns]
    if len(with_images) != 1:
        raise StarFormatError(
            f"{path}: expected one table with an rlnImageName column, found {len(with_images)} "
            f"among blocks {sorted(blocks)}"
        )
    particles = tables[with_images[0]].reset_index(drop=True)
    optics = tables.get("optics")
    return particles, optics


def _with_optics(path: Path, particles: pd.DataFrame, optics: pd.DataFrame | None) -> pd.DataFrame:
    """The particles with their optics group's columns joined on (particle values win)."""
    if optics is None:
        return particles
    if "rlnOpticsGroup" not in optics.columns:
        raise StarFormatError(f"{path}: the optics table has no rlnOpticsGroup column")
    if "rlnOpticsGroup" not in particles.columns:
        if len(optics) != 1:
            raise StarFormatError(f"{path}: {len(optics)} optics groups but particles have no rlnOpticsGroup")
        particles = particles.assign(rlnOpticsGroup=optics["rlnOpticsGroup"].iloc[0])
    known = set(optics["rlnOpticsGroup"].tolist())
    unknown = ~particles["rlnOpticsGroup"].isin(known)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise StarFormatError(
            f"{path}: row {row + 1}: optics group {particles['rlnOpticsGroup'].iloc[row]!r} "
            f"is not in the optics table ({sorted(known)})"
        )
    extra = [column for column in optics.columns if column not in particles.columns or column == "rlnOpticsGroup"]
    return particles.merge(optics[extra], on="rlnOpticsGroup", how="left", validate="many_to_one")


def _numbers(path: Path, table: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric column as float64; a non-number or NaN is an error naming the row."""
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise StarFormatError(f"{path}: row {row + 1}: {column} = {table[column].iloc[row]!r} is not a finite number")
    return values


def _image_locations(path: Path, names: pd.Series, project_root: Path) -> tuple[list[str], np.ndarray]:
    """``index@file`` strings -> (stack paths that exist, 0-based indices)."""
    stack_paths: list[str] = []
    indices = np.empty(len(names), dtype=np.int64)
    resolved: dict[str, str] = {}
    for row, name in enumerate(names.astype(str)):
        index_text, at, file_name = name.partition("@")
        if not at or not index_text.strip().isdigit() or int(index_text) < 1:
            raise StarFormatError(
                f"{path}: row {row + 1}: rlnImageName {name!r} is not 'index@file' with a 1-based index"
            )
        if file_name not in resolved:
            candidates = [Path(file_name)] if Path(file_name).is_absolute() else [
                path.parent / file_name, project_root / file_name]
            existing = [candidate for candidate in candidates if candidate.is_file()]
            if not existing:
                raise StarFormatError(
                    f"{path}: row {row + 1}: image stack {file_name!r} not found "
                    f"(looked for {', '.join(str(candidate) for candidate in candidates)})"
                )
            resolved[file_name] = str(existing[0])
        stack_paths.append(resolved[file_name])
        indices[row] = int(index_text) - 1
    return stack_paths, indices


def _pixel_sizes(path: Path, table: pd.DataFrame, first_stack: str) -> np.ndarray:
    if "rlnImagePixelSize" in table.columns:
        sizes = _numbers(path, table, "rlnImagePixelSize")
    elif {"rlnDetectorPixelSize", "rlnMagnification"} <= set(table.columns):
        detector = _numbers(path, table, "rlnDetectorPixelSize")
        magnification = _numbers(path, table, "rlnMagnification")
        bad = magnification <= 0
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise StarFormatError(f"{path}: row {row + 1}: rlnMagnification = {magnification[row]} must be positive")
        sizes = detector * 1e4 / magnification
    else:
        voxel = read_mrc_header(first_stack).voxel_size
        logger.info("%s: no pixel size in the STAR file; using %s Å from the header of %s", path, voxel, first_stack)
        sizes = np.full(len(table), voxel, dtype=np.float64)
    bad = ~(sizes > 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise StarFormatError(f"{path}: row {row + 1}: pixel size {sizes[row]} Å must be positive")
    return sizes


def read_particle_star(path: str | os.PathLike, project_root: str | os.PathLike | None = None) -> pd.DataFrame:
    """The particle table of a STAR file, in the project's units (see the module doc)."""
    path = Path(path)
    if path.suffix.lower() == ".cs":
        raise StarFormatError(
            f"{path}: cryoSPARC files are not supported; export a STAR file (e.g. with pyem's csparc2star.py) "
            "and give that instead"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{path}: STAR file not found")
    particles, optics = _tables(path)
    if particles.empty:
        raise StarFormatError(f"{path}: the particle table has no rows")
    table = _with_optics(path, particles, optics)
    stack_paths, indices = _image_locations(path, table["rlnImageName"], Path(project_root or Path.cwd()))
    pixel_size = _pixel_sizes(path, table, stack_paths[0])
    clean = pd.DataFrame({
        "star_row": np.arange(len(table), dtype=np.int64),
        "image_name": table["rlnImageName"].astype(str).to_numpy(),
        "stack_path": stack_paths,
        "stack_index": indices,
        "pixel_size_angstrom": pixel_size,
    })
    for star_column, column in _ANGLE_COLUMNS.items():
        clean[column] = _numbers(path, table, star_column) if star_column in table.columns else np.nan
    clean["rotation_radians"] = psi_to_rotation_radians(clean["angle_psi_degrees"])
    for axis in ("X", "Y"):
        if f"rlnOrigin{axis}" in table.columns:
            origin = _numbers(path, table, f"rlnOrigin{axis}")
        elif f"rlnOrigin{axis}Angst" in table.columns:
            origin = _numbers(path, table, f"rlnOrigin{axis}Angst") / pixel_size
        else:
            origin = np.full(len(table), np.nan)
        clean[f"shift_{axis.lower()}_pixels"] = -origin
    for star_column, column in _CTF_COLUMNS.items():
        clean[column] = _numbers(path, table, star_column) if star_column in table.columns else np.nan
    if "irlViewIndex" in table.columns:
        clean.insert(0, "view_index", _numbers(path, table, "irlViewIndex").astype(np.int64))
    return clean


def write_particle_star(path: str | os.PathLike, table: pd.DataFrame, stack_name: str, image_size: int) -> None:
    """Write a RELION 3.1 STAR file (one optics group) for the images ``1..N`` of the stack
    ``stack_name`` (relative to the STAR file), atomically.  ``table`` is in the clean form
    of :func:`read_particle_star`; columns that are NaN throughout are left out."""
    path = Path(path)
    pixel_sizes = table["pixel_size_angstrom"].to_numpy(dtype=np.float64)
    if len(pixel_sizes) == 0 or not (pixel_sizes > 0).all() or np.ptp(pixel_sizes) > 1e-9 * pixel_sizes[0]:
        raise ValueError(f"{path}: one positive pixel size for all particles is needed to write one optics group")
    optics = {"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
              "rlnImagePixelSize": [float(pixel_sizes[0])], "rlnImageSize": [int(image_size)],
              "rlnImageDimensionality": [2]}
    for star_column in ("rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast"):
        column = _CTF_COLUMNS[star_column]
        if column in table.columns and table[column].notna().all():
            optics[star_column] = [float(table[column].iloc[0])]
    particles = {"rlnImageName": [f"{index:06d}@{stack_name}" for index in range(1, len(table) + 1)],
                 "rlnOpticsGroup": np.ones(len(table), dtype=np.int64)}
    psi = rotation_radians_to_psi(table["rotation_radians"].to_numpy(dtype=np.float64))
    angles = {"rlnAngleRot": table.get("angle_rot_degrees"), "rlnAngleTilt": table.get("angle_tilt_degrees"),
              "rlnAnglePsi": pd.Series(psi)}
    for star_column, values in angles.items():
        if values is not None and pd.notna(values).all():
            particles[star_column] = np.asarray(values, dtype=np.float64)
    for axis in ("x", "y"):
        shift = table[f"shift_{axis}_pixels"].to_numpy(dtype=np.float64)
        if np.isfinite(shift).all():
            particles[f"rlnOrigin{axis.upper()}Angst"] = -shift * pixel_sizes
    for star_column in ("rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle"):
        column = _CTF_COLUMNS[star_column]
        if column in table.columns and table[column].notna().all():
            particles[star_column] = table[column].to_numpy(dtype=np.float64)
    if "view_index" in table.columns:
        particles["irlViewIndex"] = table["view_index"].to_numpy(dtype=np.int64)
    blocks = {"optics": pd.DataFrame(optics), "particles": pd.DataFrame(particles)}
    write_atomically(path, lambda temporary: starfile.write(blocks, temporary, float_format="%.6f"))
