"""Opt-in download of the full MNIST in IDX format, checked against published MD5 sums.

Never called unless the user asks for it (``kedro run --params download_mnist=true``
or ``python -m irl_inr.domains.mnist_u.download DIR``)."""

from __future__ import annotations

import hashlib
import logging
import sys
import urllib.request
from pathlib import Path

from irl_inr.io.atomic import write_atomically

logger = logging.getLogger(__name__)

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_mnist(directory: str | Path, names=tuple(MD5), mirrors=MIRRORS) -> list[Path]:
    """Fetch the named IDX files into ``directory`` unless a file with the right MD5 is
    already there.  A file whose checksum is wrong is never kept."""
    directory = Path(directory)
    fetched = []
    for name in names:
        target = directory / name
        if target.exists() and md5sum(target) == MD5[name]:
            fetched.append(target)
            continue
        errors = []
        for mirror in mirrors:
            url = mirror + name
            try:
                logger.info("Downloading %s", url)
                with urllib.request.urlopen(url, timeout=60) as response:
                    payload = response.read()
            except OSError as error:
                errors.append(f"{url}: {error}")
                continue
            if hashlib.md5(payload).hexdigest() != MD5[name]:
                errors.append(f"{url}: MD5 mismatch")
                continue
            write_atomically(target, lambda path: path.write_bytes(payload))
            fetched.append(target)
            break
        else:
            raise OSError(f"could not download {name}: " + "; ".join(errors))
    return fetched


if __name__ == "__main__":
    for path in download_mnist(sys.argv[1] if len(sys.argv) > 1 else "data/01_raw/mnist"):
        print(path)
