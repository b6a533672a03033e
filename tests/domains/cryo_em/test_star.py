import numpy as np
import pandas as pd
import pytest

from irl_inr.domains.cryo_em.rotations import relion_euler_to_matrix, viewing_directions
from irl_inr.domains.cryo_em.mrc import write_mrc
from irl_inr.domains.cryo_em.star import StarFormatError, read_particle_star, write_particle_star

RELION30 = """
data_
loop_
_rlnImageName #1
_rlnDetectorPixelSize #2
_rlnMagnification #3
_rlnAnglePsi #4
_rlnOriginX #5
_rlnOriginY #6
{rows}
"""


def _relion30(tmp_path, rows: str, name: str = "p30.star"):
    write_mrc(tmp_path / "stack.mrcs", np.zeros((3, 8, 8)), 1.0, stack=True)
    path = tmp_path / name
    path.write_text(RELION30.format(rows=rows))
    return path


def test_relion31_optics_table_units_and_pose(shared_data):
    star = shared_data / "cryoem" / "relion31.star"
    table = read_particle_star(star)
    rows = [line.split() for line in star.read_text().splitlines() if "@relion31.mrcs" in line]
    raw = pd.DataFrame(rows).iloc[:, [12, 13, 14, 23, 24]].astype(float)  # the particle rows as printed
    assert len(table) == 5 and table["stack_index"].tolist() == [0, 1, 2, 3, 4]
    assert table["stack_path"].map(lambda path: path.endswith("relion31.mrcs")).all()
    assert (table["pixel_size_angstrom"] == 2.806).all()
    # OriginXAngst / 2.806 Å/px, sign flipped (particle centre = box centre - origin): sub-pixel here
    np.testing.assert_allclose(table["shift_x_pixels"], -raw[23] / 2.806)
    np.testing.assert_allclose(table["shift_y_pixels"], -raw[24] / 2.806)
    assert (table[["shift_x_pixels", "shift_y_pixels"]].abs() < 1).all().all()
    np.testing.assert_allclose(table["rotation_radians"], -np.radians(raw[14]))
    matrices = relion_euler_to_matrix(table["angle_rot_degrees"], table["angle_tilt_degrees"],
                                      table["angle_psi_degrees"])
    np.testing.assert_allclose(np.linalg.det(matrices), 1.0)
    rot, tilt = np.radians(raw[12]), np.radians(raw[13])
    expected = np.stack([np.sin(tilt) * np.cos(rot), np.sin(tilt) * np.sin(rot), np.cos(tilt)], axis=1)
    np.testing.assert_allclose(viewing_directions(matrices), expected, atol=1e-12)
    assert table["voltage_kv"].eq(300).all() and table["defocus_u_angstrom"].iloc[0] == pytest.approx(13108.082418)


def test_relion30_single_table_with_detector_pixel_size(tmp_path):
    path = _relion30(tmp_path, "1@stack.mrcs 14.0 50000 30.0 1.5 -2.0\n3@stack.mrcs 14.0 50000 -90.0 0 0")
    table = read_particle_star(path)
    assert table["pixel_size_angstrom"].tolist() == pytest.approx([2.8, 2.8])
    assert table["stack_index"].tolist() == [0, 2]
    assert table["shift_x_pixels"].tolist() == [-1.5, -0.0] and table["shift_y_pixels"].tolist() == [2.0, -0.0]
    assert table["rotation_radians"].tolist() == pytest.approx([-np.pi / 6, np.pi / 2])
    assert table["angle_rot_degrees"].isna().all()


def test_stack_found_relative_to_the_project_too(tmp_path, shared_data):
    table = read_particle_star(shared_data / "cryoem" / "toy_projections.star")
    assert len(table) == 1000 and table["stack_index"].iloc[-1] == 999
    assert (table["pixel_size_angstrom"] == 1.0).all()  # no pixel size in the file: the MRC header's
    moved = tmp_path / "sub" / "moved.star"
    moved.parent.mkdir()
    moved.write_text(RELION30.format(rows="1@stack.mrcs 5.0 50000 0 0 0"))
    write_mrc(tmp_path / "stack.mrcs", np.zeros((1, 8, 8)), 1.0, stack=True)
    assert read_particle_star(moved, project_root=tmp_path)["stack_path"].iloc[0] == str(tmp_path / "stack.mrcs")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("1@stack.mrcs 14.0 50000 0 0 0\n1@gone.mrcs 14.0 50000 0 0 0", r"row 2: image stack 'gone.mrcs' not found"),
        ("0@stack.mrcs 14.0 50000 0 0 0", r"row 1: rlnImageName '0@stack.mrcs' is not 'index@file'"),
        ("1@stack.mrcs 14.0 50000 0 0 0\n2@stack.mrcs 0.0 50000 0 0 0", r"row 2: pixel size 0.0 Å must be positive"),
        ("1@stack.mrcs -14.0 50000 0 0 0", r"row 1: pixel size -2.8 Å must be positive"),
        ("1@stack.mrcs 14.0 50000 nan 0 0", r"row 1: rlnAnglePsi = .* is not a finite number"),
    ],
)
def test_bad_rows_name_the_file_and_row(tmp_path, rows, message):
    path = _relion30(tmp_path, rows, "bad.star")
    with pytest.raises(StarFormatError, match=r"bad\.star: " + message):
        read_particle_star(path)


def test_write_then_read_keeps_pose_and_pixel_size(tmp_path):
    write_mrc(tmp_path / "out.mrcs", np.zeros((2, 8, 8)), 1.7, stack=True)
    table = pd.DataFrame({
        "pixel_size_angstrom": [1.7, 1.7], "angle_rot_degrees": [10.0, 20.0], "angle_tilt_degrees": [30.0, 40.0],
        "rotation_radians": [0.5, -1.0], "shift_x_pixels": [1.25, 0.0], "shift_y_pixels": [-0.5, 2.0],
        "view_index": [3, 0],
    })
    write_particle_star(tmp_path / "out.star", table, "out.mrcs", 8)
    again = read_particle_star(tmp_path / "out.star")
    for column in table.columns:
        np.testing.assert_allclose(again[column], table[column], atol=1e-5)
    assert again["stack_index"].tolist() == [0, 1] and again["view_index"].dtype == np.int64


def test_a_cryosparc_file_is_refused_with_what_to_do_instead(tmp_path):
    """cryoSPARC's ``.cs`` is a NumPy structured array, not a STAR file: the error says so
    rather than that no rlnImageName table was found."""
    particles = np.zeros(3, dtype=[("blob/path", "S32"), ("blob/idx", "<u4")])
    path = tmp_path / "P1_J5_particles.cs"
    with open(path, "wb") as handle:
        np.save(handle, particles)
    with pytest.raises(StarFormatError, match="cryoSPARC files are not supported; export a STAR file") as caught:
        read_particle_star(path)
    assert "rlnImageName" not in str(caught.value) and str(path) in str(caught.value)
