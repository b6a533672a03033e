import mrcfile
import numpy as np
import pytest

from irl_inr.domains.cryo_em.mrc import MrcFormatError, read_mrc_header, read_particle_stack, read_volume, write_mrc


def test_reads_real_stacks_without_the_map_identifier(shared_data):
    folder = shared_data / "cryoem"
    with pytest.raises(ValueError):  # strict mrcfile refuses these files
        mrcfile.open(folder / "relion31.mrcs").close()
    particles = read_particle_stack(folder / "relion31.mrcs")
    assert particles.shape == (5, 256, 256) and particles.dtype == np.float32
    assert np.isfinite(particles).all() and particles.std() > 0
    toy = read_particle_stack(folder / "toy_projections.mrcs", [999, 0])
    assert toy.shape == (2, 30, 30)
    assert np.array_equal(toy[1], read_particle_stack(folder / "toy_projections.mrcs", [0])[0])


def test_reads_real_volumes(shared_data):
    volume, voxel_size = read_volume(shared_data / "cryoem" / "hand-vol.mrc")
    assert volume.shape == (64, 64, 64) and voxel_size == 1.0
    toy, _ = read_volume(shared_data / "cryoem" / "toymodel_small_nocenter.mrc")
    assert toy.shape == (30, 30, 30) and toy.min() == 0.0 and toy.max() == 1.0


def test_round_trip_stack_and_volume(tmp_path):
    stack = np.random.default_rng(0).normal(size=(3, 8, 8)).astype(np.float32)
    write_mrc(tmp_path / "s.mrcs", stack, 1.5, stack=True)
    assert np.array_equal(read_particle_stack(tmp_path / "s.mrcs"), stack)
    assert read_mrc_header(tmp_path / "s.mrcs").voxel_size == pytest.approx(1.5)
    with mrcfile.open(tmp_path / "s.mrcs") as strict:  # written files are valid in strict mode
        assert strict.is_image_stack()
    write_mrc(tmp_path / "v.mrc", np.ones((4, 4, 4)), 2.0, stack=False)
    assert read_volume(tmp_path / "v.mrc")[1] == pytest.approx(2.0)


def test_header_that_disagrees_with_the_size_names_the_file(tmp_path):
    path = tmp_path / "cut.mrcs"
    write_mrc(path, np.zeros((4, 8, 8)), 1.0, stack=True)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(MrcFormatError, match=r"cut\.mrcs: header says 4 x 8 x 8 .* but the file has"):
        read_particle_stack(path)


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_nan_pixels_name_the_file_and_image(tmp_path):
    stack = np.zeros((3, 8, 8), np.float32)
    stack[2, 1, 1] = np.nan
    write_mrc(tmp_path / "nan.mrcs", stack, 1.0, stack=True)
    with pytest.raises(MrcFormatError, match=r"nan\.mrcs: image \(1-based\) 3 holds NaN"):
        read_particle_stack(tmp_path / "nan.mrcs")


def test_wrong_shapes_and_indices_are_errors(tmp_path):
    write_mrc(tmp_path / "flat.mrcs", np.zeros((2, 8, 6)), 1.0, stack=True)
    with pytest.raises(MrcFormatError, match=r"flat\.mrcs: particle images must be square"):
        read_particle_stack(tmp_path / "flat.mrcs")
    with pytest.raises(MrcFormatError, match=r"flat\.mrcs: a density map must be cubic"):
        read_volume(tmp_path / "flat.mrcs")
    write_mrc(tmp_path / "two.mrcs", np.zeros((2, 8, 8)), 1.0, stack=True)
    with pytest.raises(MrcFormatError, match=r"two\.mrcs: holds 2 images, but image 3 \(1-based\)"):
        read_particle_stack(tmp_path / "two.mrcs", [0, 2])
    with pytest.raises(FileNotFoundError, match="missing.mrcs"):
        read_particle_stack(tmp_path / "missing.mrcs")
