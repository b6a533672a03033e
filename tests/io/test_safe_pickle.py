import pickle

import numpy as np
import pytest

from irl_inr.io.safe_pickle import UnsafePickleError, load_numpy_pickle


def test_reads_the_real_pose_pickles(shared_data):
    rotations, shifts = load_numpy_pickle(shared_data / "cryoem" / "toy_rot_trans.pkl")
    assert rotations.shape == (1000, 3, 3) and rotations.dtype == np.float32
    assert shifts.shape == (1000, 2) and shifts.dtype == np.float64
    np.testing.assert_allclose(rotations[:10] @ rotations[:10].transpose(0, 2, 1), np.broadcast_to(np.eye(3), (10, 3, 3)),
                               atol=1e-5)
    assert load_numpy_pickle(shared_data / "cryoem" / "hand_rot.pkl").shape == (100, 3, 3)


def test_round_trip_of_arrays_and_scalars(tmp_path):
    path = tmp_path / "arrays.pkl"
    path.write_bytes(pickle.dumps({"a": np.arange(3, dtype=np.int16), "b": (np.float32(2.5), [1, 2.0])}))
    loaded = load_numpy_pickle(path)
    assert loaded["a"].tolist() == [0, 1, 2] and loaded["a"].dtype == np.int16
    assert loaded["b"] == (np.float32(2.5), [1, 2.0])


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_refuses_other_globals_naming_file_and_global(tmp_path, capsys):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([np.zeros(2), _Payload()]))
    with pytest.raises(UnsafePickleError, match=r"evil\.pkl.*builtins\.print"):
        load_numpy_pickle(path)
    assert "never run" not in capsys.readouterr().out


def test_truncated_pickle_names_the_file(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps(np.zeros(100))[:40])
    with pytest.raises(UnsafePickleError, match=r"cut\.pkl: not a readable pickle"):
        load_numpy_pickle(path)
