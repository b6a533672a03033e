"""3-D particle poses and how they relate to the project's in-plane pose.

Convention (RELION's, as RELION/XMIPP define their Euler angles ZYZ = rot, tilt, psi):
a particle with pose matrix ``A`` is the projection

    image(x, y) = integral over z of  volume(A^T (x, y, z)) dz

with ``x`` = column, ``y`` = row (downwards), ``z`` = section of the arrays, all about the
box centre.  ``A = Rz(-psi) @ Ry(-tilt) @ Rz(-rot)`` in terms of standard (right-handed,
active) rotation matrices, which equals RELION's ``Euler_angles2matrix(rot, tilt, psi)``
and cryoDRGN's ``R_from_relion``.  The simulator test checks this convention against
cryoDRGN's toy projections (exact agreement with ``A``, not with ``A^T``).

Consequences used throughout:

* the **viewing direction** (the beam, in the volume's frame) is the third row of ``A``:
  ``(sin tilt cos rot, sin tilt sin rot, cos tilt)``; it depends on rot and tilt only;
* ``psi`` is a pure in-plane rotation applied after the view: with ``A = Rz(-psi) B``,
  ``image(p) = C(R(psi) p)`` where ``C`` is the projection at pose ``B``.  In the project's
  convention (``geometry``: ``J(p) = C(R(-theta) p)``, positive from +x towards +y) the
  in-plane rotation is therefore ``rotation_radians = -radians(psi)``.
"""

from __future__ import annotations

import math

import numpy as np


def _axis_rotations(angle: np.ndarray, axis: str) -> np.ndarray:
    """Standard active rotations about ``z`` or ``y`` by ``angle`` (N,) radians -> (N, 3, 3)."""
    cos, sin = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    if axis == "z":
        rows = [[cos, -sin, zero], [sin, cos, zero], [zero, zero, one]]
    else:
        rows = [[cos, zero, sin], [zero, one, zero], [-sin, zero, cos]]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def relion_euler_to_matrix(rot_degrees, tilt_degrees, psi_degrees) -> np.ndarray:
    """RELION Euler angles (N,) degrees -> pose matrices ``A`` (N, 3, 3) float64."""
    rot, tilt, psi = (np.radians(np.asarray(angle, dtype=np.float64)).reshape(-1) for angle in
                      (rot_degrees, tilt_degrees, psi_degrees))
    return _axis_rotations(-psi, "z") @ _axis_rotations(-tilt, "y") @ _axis_rotations(-rot, "z")


def viewing_directions(pose_matrices: np.ndarray) -> np.ndarray:
    """(N, 3, 3) pose matrices -> (N, 3) unit viewing directions (their third rows)."""
    return np.asarray(pose_matrices, dtype=np.float64)[:, 2, :]


def direction_to_rot_tilt(directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (N, 3) -> RELION (rot, tilt) in degrees that view along them."""
    directions = np.asarray(directions, dtype=np.float64)
    directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    rot = np.degrees(np.arctan2(directions[:, 1], directions[:, 0]))
    tilt = np.degrees(np.arccos(np.clip(directions[:, 2], -1.0, 1.0)))
    return rot, tilt


def psi_to_rotation_radians(psi_degrees) -> np.ndarray:
    """RELION's psi (degrees) -> the project's in-plane ``rotation_radians`` (see module doc)."""
    return -np.radians(np.asarray(psi_degrees, dtype=np.float64))


def rotation_radians_to_psi(rotation_radians) -> np.ndarray:
    """The project's in-plane ``rotation_radians`` -> RELION's psi in degrees."""
    return -np.degrees(np.asarray(rotation_radians, dtype=np.float64))


def reference_directions(count: int) -> np.ndarray:
    """``count`` unit directions spread evenly over the sphere (a Fibonacci lattice),
    the same for the same ``count``: (count, 3)."""
    if count < 1:
        raise ValueError(f"reference_directions: count must be positive, got {count}")
    index = np.arange(count, dtype=np.float64) + 0.5
    z = 1.0 - 2.0 * index / count
    azimuth = index * math.pi * (3.0 - math.sqrt(5.0))
    radius = np.sqrt(1.0 - z**2)
    return np.stack([radius * np.cos(azimuth), radius * np.sin(azimuth), z], axis=1)


def nearest_direction(directions: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Index (N,) int64 of the reference (K, 3) nearest in angle to each direction (N, 3)."""
    return np.argmax(np.asarray(directions) @ np.asarray(references).T, axis=1).astype(np.int64)
