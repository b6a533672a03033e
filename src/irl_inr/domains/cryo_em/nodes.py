"""Cryo-EM front end: a particle stack (simulated from a density, or read from a STAR
file) -> labelled, split particles -> the contract's ``images`` (float32 (N, S, S) in
[0, 1], density bright) and ``image_table``.

A particle stack travels between nodes as a dict: ``images`` float32 (N, H, H), ``particles``
(a table in the clean form of ``irl_inr.domains.cryo_em.star.read_particle_star``) and ``pixel_size``
(Å).  Poses follow ``irl_inr.domains.cryo_em.rotations``: ``rotation_radians`` is the project's
in-plane rotation (= -psi), shifts are in pixels of the stack they are stored with."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from irl_inr.domains.cryo_em.preprocess import preprocess_stack
from irl_inr.domains.cryo_em.rotations import (
    nearest_direction,
    reference_directions,
    relion_euler_to_matrix,
    viewing_directions,
)
from irl_inr.domains.cryo_em.simulate import (
    add_noise,
    apply_ctf,
    ctf_images,
    draw_poses,
    gaussian_blob_phantom,
    project_volume,
)
from irl_inr.domains.cryo_em.parameters import (
    CryoEmIngestionParameters,
    PreprocessingParameters,
    SimulationParameters,
)
from irl_inr.tables import stratified_split

logger = logging.getLogger(__name__)

UNLABELLED = "unlabelled"


def build_volume(volume_file: dict | None, parameters: dict) -> dict:
    """The density to simulate from: the map given by the user (``{"volume", "voxel_size"}``
    from an MRC file), or, when there is none, the seeded Gaussian-blob phantom with the
    simulation's pixel size."""
    options = SimulationParameters.from_dict(parameters)
    if volume_file is not None:
        logger.info("cryo-EM: simulating from the given map, %s voxels of %.3f Å",
                    volume_file["volume"].shape, volume_file["voxel_size"])
        return volume_file
    phantom = gaussian_blob_phantom(
        options.volume_size, options.phantom_blobs, options.phantom_min_sigma, options.phantom_max_sigma,
        options.phantom_spread, options.phantom_seed,
    )
    logger.info("cryo-EM: no map given; simulating from a %d-blob phantom of %d³ voxels",
                options.phantom_blobs, options.volume_size)
    return {"volume": phantom, "voxel_size": options.pixel_size_angstrom}


def simulate_particles(volume: dict, parameters: dict) -> dict:
    """Projections of ``volume`` at seeded poses (see ``irl_inr.domains.cryo_em.simulate``), with
    the optional CTF and noise at the chosen SNR, as a particle stack whose table keeps the
    ground truth: view index, RELION angles, viewing direction, in-plane rotation, shift."""
    options = SimulationParameters.from_dict(parameters)
    density, pixel_size = volume["volume"], float(volume["voxel_size"])
    size = density.shape[0]
    if options.max_shift_pixels > size / 4:
        raise ValueError(f"cryo_em.simulation.max_shift_pixels = {options.max_shift_pixels}: "
                         f"must be at most a quarter of the {size}-voxel map")
    poses = draw_poses(options.particles, options.views, options.view_jitter_degrees, options.max_shift_pixels,
                       options.seed)
    clean = project_volume(density, poses["pose_matrices"], poses["shift_pixels"], batch_size=options.batch_size)
    footprints = clean > 0.01 * clean.max(axis=(1, 2), keepdims=True)  # the particle, for the SNR
    rng = np.random.default_rng([options.seed, 1])
    count = options.particles
    defocus = np.full(count, np.nan)
    images = clean
    if options.ctf:
        defocus = rng.uniform(options.defocus_min_angstrom, options.defocus_max_angstrom, size=count)
        images = apply_ctf(clean, ctf_images(size, pixel_size, defocus, options.voltage_kv,
                                             options.spherical_aberration_mm, options.amplitude_contrast))
    noise_std = np.zeros(count)
    if options.snr is not None:
        images, noise_std = add_noise(images, footprints, options.snr, rng)
    particles = pd.DataFrame({
        "angle_rot_degrees": poses["angle_rot_degrees"],
        "angle_tilt_degrees": poses["angle_tilt_degrees"],
        "angle_psi_degrees": poses["angle_psi_degrees"],
        "rotation_radians": poses["rotation_radians"],
        "shift_x_pixels": poses["shift_pixels"][:, 0],
        "shift_y_pixels": poses["shift_pixels"][:, 1],
        "pixel_size_angstrom": pixel_size,
        "defocus_u_angstrom": defocus,
        "defocus_v_angstrom": defocus,
        "defocus_angle_degrees": 0.0 if options.ctf else np.nan,
        "voltage_kv": options.voltage_kv if options.ctf else np.nan,
        "spherical_aberration_mm": options.spherical_aberration_mm if options.ctf else np.nan,
        "amplitude_contrast": options.amplitude_contrast if options.ctf else np.nan,
        "noise_std": noise_std,
    })
    if poses["view_index"] is not None:
        particles.insert(0, "view_index", poses["view_index"])
    return {"images": images.astype(np.float32), "particles": particles, "pixel_size": pixel_size,
            "source": "the simulated particles (cryo_em.simulation)"}


def label_particles(particle_stack: dict, parameters: dict) -> dict:
    """Keep at most ``max_images`` particles (a seeded choice, in stack order), then add
    ``label``/``label_name``, the viewing direction ``view_x/y/z`` and ``split``.

    Labels (for ACC/NMI): the simulator's view index when present; else the nearest of
    ``reference_views`` reference directions to the true viewing direction (from
    rot/tilt); else one class ``unlabelled`` (then clustered unscored: the measures that
    need labels are skipped)."""
    options = CryoEmIngestionParameters.from_dict(parameters)
    images, particles = particle_stack["images"], particle_stack["particles"].reset_index(drop=True)
    if len(images) != len(particles):
        raise ValueError(f"cryo-EM particle stack: {len(images)} images but {len(particles)} table rows")
    keep = np.arange(len(images))
    if options.max_images is not None and options.max_images < len(keep):
        keep = np.sort(np.random.default_rng(options.seed).choice(len(keep), options.max_images, replace=False))
        logger.info("cryo-EM: kept %d of %d particles (max_images)", len(keep), len(images))
    images, table = images[keep], particles.iloc[keep].reset_index(drop=True)
    table.insert(0, "source_index", keep.astype(np.int64))
    has_angles = {"angle_rot_degrees", "angle_tilt_degrees"} <= set(table.columns) and bool(
        table[["angle_rot_degrees", "angle_tilt_degrees"]].notna().all().all())
    if has_angles:
        psi = table["angle_psi_degrees"].fillna(0.0) if "angle_psi_degrees" in table.columns else 0.0
        directions = viewing_directions(relion_euler_to_matrix(table["angle_rot_degrees"], table["angle_tilt_degrees"],
                                                               psi))
        table["view_x"], table["view_y"], table["view_z"] = directions.T
    if "view_index" in table.columns:
        labels = table["view_index"].to_numpy(dtype=np.int64)
        names = [f"view {label}" for label in labels]
    elif has_angles:
        labels = nearest_direction(directions, reference_directions(options.reference_views))
        names = [f"near reference view {label}" for label in labels]
    else:
        logger.warning("cryo-EM: no viewing angles in the particle table; every particle is '%s'", UNLABELLED)
        labels = np.zeros(len(table), dtype=np.int64)
        names = [UNLABELLED] * len(table)
    table["label"] = labels
    table["label_name"] = names
    rows, test_or_train = stratified_split(labels, options.test_fraction, np.random.default_rng(options.seed))
    split = np.empty(len(table), dtype=object)
    split[rows] = test_or_train
    table["split"] = split
    return {"images": images, "particles": table, "pixel_size": particle_stack["pixel_size"],
            "source": particle_stack["source"]}


def preprocess_particles(labelled_particles: dict, parameters: dict) -> tuple[np.ndarray, pd.DataFrame]:
    """Labelled particles -> the contract's ``images`` float32 (N, S, S) in [0, 1] and
    ``image_table`` (``image_id``, ``label``, ``label_name``, ``split``,
    ``rotation_radians``, ``shift_x/y_pixels`` in working pixels, then the rest of the
    particle table; ``pixel_size_angstrom`` becomes the working pixel size)."""
    options = PreprocessingParameters.from_dict(parameters)
    raw, particles = labelled_particles["images"], labelled_particles["particles"]
    if options.image_size > raw.shape[-1]:
        raise ValueError(
            f"cryo_em.preprocessing.image_size = {options.image_size}: larger than the {raw.shape[-1]}-pixel particles "
            f"of {labelled_particles['source']}, which are only ever downsampled; set it to at most {raw.shape[-1]}"
        )
    images = preprocess_stack(
        raw, options.image_size, options.downsampling, options.background_radius, options.contrast,
        options.floor_sigma, options.ceiling_sigma, options.mask_radius,
    )
    scale = options.image_size / raw.shape[-1]
    table = particles.copy()
    for column in ("rotation_radians", "shift_x_pixels", "shift_y_pixels"):
        if column not in table.columns:
            table[column] = np.nan
    table["shift_x_pixels"] = table["shift_x_pixels"].astype(np.float64) * scale
    table["shift_y_pixels"] = table["shift_y_pixels"].astype(np.float64) * scale
    table["rotation_radians"] = table["rotation_radians"].astype(np.float64)
    table["pixel_size_angstrom"] = table["pixel_size_angstrom"].astype(np.float64) / scale
    table.insert(0, "image_id", np.arange(len(table), dtype=np.int64))
    first = ["image_id", "label", "label_name", "split", "rotation_radians", "shift_x_pixels", "shift_y_pixels"]
    table = table[first + [column for column in table.columns if column not in first]]
    table["label"] = table["label"].astype(np.int64)
    table["label_name"] = table["label_name"].astype(str)
    table["split"] = table["split"].astype(str)
    return images, table


def preview_particles(labelled_particles: dict, images: np.ndarray, image_table: pd.DataFrame,
                      parameters: dict) -> Figure:
    """Raw particles (top) above their preprocessed images (bottom), titled with the label
    and the true in-plane rotation and shift."""
    options = PreprocessingParameters.from_dict(parameters)
    count = min(options.preview_count, len(images))
    raw = labelled_particles["images"]
    figure, axes = plt.subplots(2, count, figsize=(1.6 * count, 3.8), squeeze=False)
    for column in range(count):
        row = image_table.iloc[column]
        axes[0, column].imshow(raw[column], cmap="gray")
        axes[1, column].imshow(images[column], cmap="gray", vmin=0, vmax=1)
        axes[0, column].set_title(str(row["label_name"]), fontsize=7)
        rotation = row["rotation_radians"]
        pose = "pose unknown" if math.isnan(rotation) else (
            f"{math.degrees(rotation):.0f}°\n({row['shift_x_pixels']:+.1f}, {row['shift_y_pixels']:+.1f})")
        axes[1, column].set_title(pose, fontsize=7)
        for axis in axes[:, column]:
            axis.set_axis_off()
    figure.suptitle("cryo-EM particles: raw (top), preprocessed (bottom) with true in-plane rotation, shift (px)",
                    fontsize=9)
    figure.tight_layout()
    return figure


def particle_front_end(preprocessing: dict) -> dict:
    """Cryo-EM's front end for new particles (``predict``): the whole ``cryo_em.preprocessing`` section."""
    options = PreprocessingParameters.from_dict(preprocessing).to_dict()
    options.pop("preview_count")
    return {"domain": "cryo_em", **options}
