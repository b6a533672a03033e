import numpy as np
import pytest
from kedro.io.core import DatasetError

from irl_inr.domains.cryo_em.datasets import MrcVolumeDataset, ParticleStackDataset
from irl_inr.domains.cryo_em.mrc import write_mrc


def test_loads_the_real_relion31_stack(shared_data):
    loaded = ParticleStackDataset(str(shared_data / "cryoem" / "relion31.star")).load()
    assert loaded["images"].shape == (5, 256, 256) and loaded["images"].dtype == np.float32
    assert loaded["pixel_size"] == pytest.approx(2.806) and len(loaded["particles"]) == 5


def test_save_then_load_round_trip(tmp_path, shared_data):
    source = ParticleStackDataset(str(shared_data / "cryoem" / "relion31.star")).load()
    target = ParticleStackDataset(str(tmp_path / "copy" / "particles.star"))
    assert not target.exists()
    target.save(source)
    again = target.load()
    assert (tmp_path / "copy" / "particles.mrcs").is_file() and target.exists()
    assert np.array_equal(again["images"], source["images"])
    for column in ("rotation_radians", "shift_x_pixels", "angle_tilt_degrees", "defocus_u_angstrom"):
        np.testing.assert_allclose(again["particles"][column], source["particles"][column], atol=1e-5)
    assert [name.startswith(".") for name in sorted(p.name for p in (tmp_path / "copy").iterdir())] == [False, False]


def test_index_past_the_end_of_a_stack_names_the_star_file_row_and_stack(tmp_path):
    write_mrc(tmp_path / "two.mrcs", np.zeros((2, 8, 8)), 1.0, stack=True)
    (tmp_path / "p.star").write_text("data_\nloop_\n_rlnImageName\n1@two.mrcs\n3@two.mrcs\n")
    with pytest.raises(DatasetError) as error:
        ParticleStackDataset(str(tmp_path / "p.star")).load()
    assert str(error.value) == (
        f"{tmp_path / 'p.star'}: row 2: rlnImageName '3@two.mrcs' asks for image 3 of {tmp_path / 'two.mrcs'}, "
        "which holds 2 images; fix that row, or put the stack it was written for in that place"
    )


def test_save_rejects_a_wrong_shape(tmp_path):
    with pytest.raises(DatasetError, match=r"must be \(N, H, H\)"):
        ParticleStackDataset(str(tmp_path / "p.star")).save({"images": np.zeros((2, 8, 6)), "particles": None})


def test_volume_dataset_optional_path_and_round_trip(tmp_path, shared_data):
    assert MrcVolumeDataset(None).load() is None and not MrcVolumeDataset(None).exists()
    hand = MrcVolumeDataset(str(shared_data / "cryoem" / "hand-vol.mrc")).load()
    assert hand["volume"].shape == (64, 64, 64) and hand["voxel_size"] == 1.0
    copy = MrcVolumeDataset(str(tmp_path / "v.mrc"))
    copy.save({"volume": hand["volume"][:8, :8, :8], "voxel_size": 1.0})
    assert np.array_equal(copy.load()["volume"], hand["volume"][:8, :8, :8])
    with pytest.raises(DatasetError, match=r"t\.mrc: a density map must be cubic"):
        write_mrc(tmp_path / "t.mrc", np.zeros((2, 8, 8)), 1.0, stack=False)
        MrcVolumeDataset(str(tmp_path / "t.mrc")).load()
