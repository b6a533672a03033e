import shutil

import pytest

from irl_inr.domains.mnist_u import download as mnist_download


def test_download_checks_md5_and_uses_the_next_mirror(tmp_path, shared_data):
    good = tmp_path / "good"
    bad = tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    name = "t10k-labels-idx1-ubyte.gz"
    shutil.copy(shared_data / "mnist" / name, good / name)
    (bad / name).write_bytes(b"not mnist")
    target = tmp_path / "raw"
    paths = mnist_download.download_mnist(
        target, names=(name,), mirrors=(bad.as_uri() + "/", good.as_uri() + "/")
    )
    assert paths == [target / name]
    assert mnist_download.md5sum(target / name) == mnist_download.MD5[name]


def test_download_keeps_nothing_when_every_mirror_is_wrong(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    name = "t10k-labels-idx1-ubyte.gz"
    (bad / name).write_bytes(b"not mnist")
    with pytest.raises(OSError, match="MD5 mismatch"):
        mnist_download.download_mnist(tmp_path / "raw", names=(name,), mirrors=(bad.as_uri() + "/",))
    assert not (tmp_path / "raw" / name).exists()
