"""Typed, checked parameter sections of the cryo-EM front end (``cryo_em.simulation``,
``cryo_em.ingestion``, ``cryo_em.preprocessing`` in ``conf/base/parameters_cryo_em.yml``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from irl_inr.domains.cryo_em.preprocess import CONTRASTS, DOWNSAMPLING_METHODS
from irl_inr.parameters import Parameters, is_int, is_number


@dataclasses.dataclass(frozen=True)
class _Section(Parameters):
    def _int(self, name: str, minimum: int, optional: bool = False) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        if not is_int(value) or value < minimum:
            self.fail(name, f"must be an integer of at least {minimum}" + (" or null" if optional else ""))

    def _number(self, name: str, low: float, high: float | None = None, *, open_low: bool = False,
                optional: bool = False) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        if not is_number(value):
            self.fail(name, "must be a finite number" + (" or null" if optional else ""))
        if value < low or (open_low and value == low):
            self.fail(name, f"must be {'>' if open_low else '>='} {low}")
        if high is not None and value > high:
            self.fail(name, f"must be <= {high}")


@dataclasses.dataclass(frozen=True)
class SimulationParameters(_Section):
    """``cryo_em.simulation``: the phantom (used when no map is given) and how particles are
    drawn from the density.  Lengths of the phantom in units of half its box; shifts in
    pixels of the simulated box."""

    section = "cryo_em.simulation"
    seed: int = 0
    particles: int = 2000
    volume_size: int = 48
    phantom_blobs: int = 5
    phantom_min_sigma: float = 0.06
    phantom_max_sigma: float = 0.22
    phantom_spread: float = 0.45
    phantom_seed: int = 0
    views: int | None = 8
    view_jitter_degrees: float = 5.0
    max_shift_pixels: float = 3.0
    snr: float | None = 2.0
    pixel_size_angstrom: float = 2.0
    ctf: bool = False
    defocus_min_angstrom: float = 10000.0
    defocus_max_angstrom: float = 25000.0
    voltage_kv: float = 300.0
    spherical_aberration_mm: float = 2.7
    amplitude_contrast: float = 0.1
    batch_size: int = 16

    def check(self) -> None:
        self._int("seed", 0)
        self._int("particles", 1)
        self._int("volume_size", 8)
        self._int("phantom_blobs", 1)
        self._number("phantom_min_sigma", 0.0, open_low=True)
        self._number("phantom_max_sigma", self.phantom_min_sigma)
        self._number("phantom_spread", 0.0, 0.9)
        self._int("phantom_seed", 0)
        self._int("views", 1, optional=True)
        self._number("view_jitter_degrees", 0.0, 90.0)
        self._number("max_shift_pixels", 0.0, self.volume_size / 4)
        self._number("snr", 0.0, open_low=True, optional=True)
        self._number("pixel_size_angstrom", 0.0, open_low=True)
        if not isinstance(self.ctf, bool):
            self.fail("ctf", "must be true or false")
        self._number("defocus_min_angstrom", 0.0)
        self._number("defocus_max_angstrom", self.defocus_min_angstrom)
        self._number("voltage_kv", 0.0, open_low=True)
        self._number("spherical_aberration_mm", 0.0)
        self._number("amplitude_contrast", 0.0, 1.0)
        if self.amplitude_contrast == 1.0:
            self.fail("amplitude_contrast", "must be below 1")
        self._int("batch_size", 1)


@dataclasses.dataclass(frozen=True)
class CryoEmIngestionParameters(_Section):
    """``cryo_em.ingestion``: labels, split and subset of a particle stack.

    Labels: the simulator's view index when it drew K views; else the nearest of
    ``reference_views`` directions spread on the sphere, from the true rot/tilt; else (a
    STAR file without angles) one class ``unlabelled``."""

    section = "cryo_em.ingestion"
    seed: int = 0
    test_fraction: float = 0.2
    reference_views: int = 8
    max_images: int | None = None

    def check(self) -> None:
        self._int("seed", 0)
        self._number("test_fraction", 0.0, 1.0)
        if self.test_fraction == 1.0:
            self.fail("test_fraction", "must be below 1")
        self._int("reference_views", 1)
        self._int("max_images", 1, optional=True)


@dataclasses.dataclass(frozen=True)
class PreprocessingParameters(_Section):
    """``cryo_em.preprocessing``: raw particles -> the model's [0, 1] images (see
    ``irl_inr.domains.cryo_em.preprocess``).  Radii are fractions of half the box."""

    section = "cryo_em.preprocessing"
    image_size: int = 32
    downsampling: str = "fourier"
    background_radius: float = 0.8
    contrast: str = "auto"
    floor_sigma: float = 1.0
    ceiling_sigma: float = 6.0
    mask_radius: float | None = 1.0
    preview_count: int = 8

    def check(self) -> None:
        self._int("image_size", 8)
        if self.downsampling not in DOWNSAMPLING_METHODS:
            self.fail("downsampling", f"must be one of {list(DOWNSAMPLING_METHODS)}")
        self._number("background_radius", 0.0, 1.4, open_low=True)
        if self.contrast not in CONTRASTS:
            self.fail("contrast", f"must be one of {list(CONTRASTS)}")
        self._number("floor_sigma", -10.0)
        self._number("ceiling_sigma", self.floor_sigma, open_low=True)
        self._number("mask_radius", 0.0, open_low=True, optional=True)
        self._int("preview_count", 1)


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "simulation": SimulationParameters.from_dict,
    "ingestion": CryoEmIngestionParameters.from_dict,
    "preprocessing": PreprocessingParameters.from_dict,
}
