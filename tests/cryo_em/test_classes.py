import numpy as np
import pytest

from irl_inr.cryo_em.classes import class_averages, viewing_direction_spread


def test_class_averages_with_an_empty_cluster():
    images = np.stack([np.full((2, 2), value, np.float32) for value in (1.0, 3.0, 5.0)])
    averages, counts = class_averages(images, np.array([0, 0, 2]), 3)
    assert counts.tolist() == [2, 0, 1]
    assert averages[0].tolist() == [[2.0, 2.0], [2.0, 2.0]] and np.isnan(averages[1]).all()
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        class_averages(images, np.array([0, 1, 3]), 3)


def test_spread_of_viewing_directions():
    tilt = np.radians(10.0)
    directions = np.array([[np.sin(tilt), 0, np.cos(tilt)], [-np.sin(tilt), 0, np.cos(tilt)], [1.0, 0, 0]])
    spread = viewing_direction_spread(directions, np.array([0, 0, 1]), 3)
    assert spread["size"].tolist() == [2, 1, 0]
    assert spread["spread_degrees"].iloc[0] == pytest.approx(10.0)
    assert spread["spread_degrees"].iloc[1] == 0.0 and np.isnan(spread["spread_degrees"].iloc[2])
    np.testing.assert_allclose(spread.loc[0, ["mean_view_x", "mean_view_y", "mean_view_z"]], [0, 0, 1], atol=1e-12)
