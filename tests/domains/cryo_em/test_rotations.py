import numpy as np

from irl_inr.domains.cryo_em.rotations import (
    direction_to_rot_tilt,
    nearest_direction,
    psi_to_rotation_radians,
    reference_directions,
    relion_euler_to_matrix,
    rotation_radians_to_psi,
    viewing_directions,
)


def test_matrix_equals_relions_euler_formula():
    rot, tilt, psi = np.radians([-102.3, 82.3, 124.7])
    ca, sa, cb, sb, cg, sg = np.cos(rot), np.sin(rot), np.cos(tilt), np.sin(tilt), np.cos(psi), np.sin(psi)
    expected = np.array([
        [cg * cb * ca - sg * sa, cg * cb * sa + sg * ca, -cg * sb],
        [-sg * cb * ca - cg * sa, -sg * cb * sa + cg * ca, sg * sb],
        [sb * ca, sb * sa, cb],
    ])
    np.testing.assert_allclose(relion_euler_to_matrix([-102.3], [82.3], [124.7])[0], expected, atol=1e-12)


def test_directions_round_trip_and_psi_leaves_the_view():
    directions = reference_directions(12)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0)
    rot, tilt = direction_to_rot_tilt(directions)
    for psi in (0.0, 77.0):
        np.testing.assert_allclose(viewing_directions(relion_euler_to_matrix(rot, tilt, np.full(12, psi))),
                                   directions, atol=1e-12)
    assert nearest_direction(directions * 2, directions).tolist() == list(range(12))
    assert rotation_radians_to_psi(psi_to_rotation_radians(33.0)) == 33.0
