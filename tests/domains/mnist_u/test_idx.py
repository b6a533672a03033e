import gzip
import hashlib

import numpy as np
import pytest

from irl_inr.domains.mnist_u.idx import IdxFormatError, read_idx_images, read_idx_labels, read_idx_pair, write_idx

SHA256 = {
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def test_reads_the_real_mnist_test_set(shared_data):
    folder = shared_data / "mnist"
    for name, digest in SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    images, labels = read_idx_pair(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test digits
    assert 0 < images.mean() < 255 and images.max() == 255


def test_reads_the_real_training_labels(shared_data):
    labels = read_idx_labels(shared_data / "mnist" / "train-labels-idx1-ubyte.gz")
    assert labels.shape == (60000,) and labels[:3].tolist() == [5, 0, 4]


def test_round_trip_plain_and_gzip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        write_idx(tmp_path / name, array)
        assert np.array_equal(read_idx_images(tmp_path / name), array)


def test_truncated_file_names_the_file_and_sizes(tmp_path):
    path = tmp_path / "cut-idx3-ubyte"
    write_idx(path, np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IdxFormatError, match=r"cut-idx3-ubyte.*3920 bytes of data, file holds 3820"):
        read_idx_images(path)


def test_truncated_gzip_is_reported_as_corrupt(tmp_path, shared_data):
    raw = (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    path = tmp_path / "labels.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(IdxFormatError, match="labels.gz"):
        read_idx_labels(path)


def test_wrong_magic_number(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    write_idx(path, np.zeros(10, np.uint8))
    with pytest.raises(IdxFormatError, match=r"magic number 0x00000801, expected images"):
        read_idx_images(path)
    path.write_bytes(b"\x12\x34" + path.read_bytes()[2:])
    with pytest.raises(IdxFormatError, match="magic number"):
        read_idx_labels(path)


def test_counts_that_disagree(tmp_path):
    write_idx(tmp_path / "i.gz", np.zeros((4, 28, 28), np.uint8))
    write_idx(tmp_path / "l.gz", np.zeros(5, np.uint8))
    with pytest.raises(IdxFormatError, match=r"4 images but .*l.gz holds 5 labels"):
        read_idx_pair(tmp_path / "i.gz", tmp_path / "l.gz")


def test_header_too_short(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(gzip.compress(b"\x00\x00"))
    with pytest.raises(IdxFormatError, match="too short"):
        read_idx_labels(path)
