"""Peak memory and throughput of the ``predict`` node on a stream of synthetic images.

    nice -n 19 python benchmarks/predict_memory.py                   # 100,000 images of 50x50
    nice -n 19 python benchmarks/predict_memory.py --images 5000 --batch-size 128
    python benchmarks/predict_memory.py --smoke                      # seconds: does it still run?

Streams ``--images`` random 50x50 "PNG" batches (uint8, generated batch by batch, never
all at once) through :func:`irl_inr.pipelines.predict.nodes.predict_new_images` with the
MNIST-U front end and a tiny untrained IRL-INR (the e2e tests' ``tiny`` model: d = 8, 16
Fourier frequencies) plus SCAN and self-label heads trained from it for one epoch on 40
random images by the clustering stage's own nodes, and saves every chunk with the
pipeline's own datasets (Parquet predictions, ``.npy`` canonical images) in a temporary
folder that is deleted afterwards. Prints one JSON line: images, seconds, images per
second, peak RSS (``VmHWM``) and the RSS before the stream started.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from irl_inr.datasets.new_images import RawImageBatch, StreamedNpyDataset, StreamedParquetDataset
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.pipelines.clustering.nodes import train_scan, train_selflabel
from irl_inr.domains.mnist_u.augmentation import digit_front_end
from irl_inr.pipelines.predict.nodes import predict_new_images
from irl_inr.training.checkpoint import cpu_state_dict

SIZE, LATENT, CLUSTERS, TRAIN_IMAGES = 50, 8, 10, 40


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


class SyntheticImages:
    """Stands in for ``NewImages``: ``batches(batch_size)`` makes each batch when asked."""

    def __init__(self, count: int, seed: int) -> None:
        self.count, self.seed = count, seed

    def batches(self, batch_size: int):
        return SyntheticBatches(self.count, batch_size, np.random.default_rng(self.seed))


class SyntheticBatches:
    def __init__(self, total: int, batch_size: int, rng: np.random.Generator) -> None:
        self.total, self.batch_size, self.rng, self.next = total, batch_size, rng, 0

    def __iter__(self):
        return self

    def __next__(self) -> RawImageBatch:
        if self.next >= self.total:
            raise StopIteration
        count = min(self.batch_size, self.total - self.next)
        pixels = self.rng.integers(0, 256, size=(count, SIZE, SIZE), dtype=np.uint8)
        sources = [f"synthetic[{index}]" for index in range(self.next, self.next + count)]
        self.next += count
        return RawImageBatch("png", pixels, sources)


def tiny_models(checkpoints: Path) -> tuple[dict, dict, dict, dict]:
    """An untrained tiny IRL-INR; SCAN and self-label models trained from it for one epoch
    on random images by the clustering stage's nodes (so they are chained and recorded as a
    run records them; checkpoints in ``checkpoints``); a novelty reference of random
    cluster means."""
    torch.manual_seed(0)
    config = IRLINRConfig.from_dict({"image_size": SIZE, "latent_dim": LATENT, "num_frequencies": 16,
                                     "inr_hidden": [16], "hypernetwork_hidden": [32]})
    irl_inr = {"config": {"name": "tiny", "model": dataclasses.asdict(config), "optimisation": {}},
               "state_dict": cpu_state_dict(IRLINR(config))}
    rng = np.random.default_rng(0)
    images = rng.random((TRAIN_IMAGES, SIZE, SIZE), dtype=np.float32)
    table = pd.DataFrame({"image_id": np.arange(TRAIN_IMAGES), "label": np.arange(TRAIN_IMAGES) % CLUSTERS,
                          "split": "train"})
    neighbours = (np.arange(TRAIN_IMAGES)[:, None] + np.arange(1, 3)[None, :]) % TRAIN_IMAGES
    one_epoch = {"epochs": 1, "batch_size": TRAIN_IMAGES}
    clustering = {"n_clusters": CLUSTERS, "device": "cpu", "num_threads": 1, "checkpoint_dir": str(checkpoints),
                  "progress": False, "mining": {"neighbours": 2},
                  "scan": {"n_heads": 1, "cached_views": 1, "optimisation": one_epoch},
                  "selflabel": {"optimisation": one_epoch}}
    scan, _ = train_scan(irl_inr, images, table, neighbours, clustering)
    selflabel, _ = train_selflabel(irl_inr, scan, images, table, clustering)
    reference = {"head": "selflabel", "threshold": 3.0,
                 "centroids": np.random.default_rng(0).normal(size=(CLUSTERS, LATENT)).tolist()}
    return irl_inr, scan, selflabel, reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", default=None, help="parent of the temporary output folder")
    parser.add_argument("--smoke", action="store_true", help="seconds: 64 images in batches of 32 (CI runs this)")
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.images, arguments.batch_size = 64, 32
    parameters = {"batch_size": arguments.batch_size, "device": "cpu", "num_threads": arguments.threads}
    with tempfile.TemporaryDirectory(dir=arguments.workdir) as folder:
        irl_inr, scan, selflabel, reference = tiny_models(Path(folder) / "checkpoints")
        predictions = StreamedParquetDataset(str(Path(folder) / "predictions.parquet"))
        canonical = StreamedNpyDataset(str(Path(folder) / "canonical_images.npy"))
        before = memory_kib("VmRSS")
        started = time.perf_counter()
        for table, images in predict_new_images(irl_inr, scan, selflabel, reference,
                                                SyntheticImages(arguments.images, 0),
                                                digit_front_end({"image_size": SIZE}), parameters):
            predictions.save(table)
            canonical.save(images)
        seconds = time.perf_counter() - started
        written = len(canonical.load())
    print(json.dumps({
        "images": written, "batch_size": arguments.batch_size, "threads": arguments.threads,
        "seconds": round(seconds, 1), "images_per_second": round(written / seconds, 1),
        "rss_before_stream_mib": round(before / 1024, 1), "peak_rss_mib": round(memory_kib("VmHWM") / 1024, 1),
    }))


if __name__ == "__main__":
    main()
