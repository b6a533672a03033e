import numpy as np
import pytest

from irl_inr.metrics.directions import angle_between_degrees, viewing_direction_spread


def test_assignments_outside_the_clusters_are_an_error():
    directions = np.tile([0.0, 0.0, 1.0], (3, 1))
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        viewing_direction_spread(directions, np.array([0, 1, 3]), 3)
    with pytest.raises(ValueError, match="expected 3 cluster assignments"):
        viewing_direction_spread(directions, np.array([0, 1]), 3)


def test_angle_between_unit_vectors():
    assert angle_between_degrees(np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.array([0, 1.0, 0])).tolist() == [90.0, 0.0]


def test_spread_of_viewing_directions():
    tilt = np.radians(10.0)
    directions = np.array([[np.sin(tilt), 0, np.cos(tilt)], [-np.sin(tilt), 0, np.cos(tilt)], [1.0, 0, 0]])
    spread = viewing_direction_spread(directions, np.array([0, 0, 1]), 3)
    assert spread["size"].tolist() == [2, 1, 0]
    assert spread["spread_degrees"].iloc[0] == pytest.approx(10.0)
    assert spread["spread_degrees"].iloc[1] == 0.0 and np.isnan(spread["spread_degrees"].iloc[2])
    np.testing.assert_allclose(spread.loc[0, ["mean_view_x", "mean_view_y", "mean_view_z"]], [0, 0, 1], atol=1e-12)
