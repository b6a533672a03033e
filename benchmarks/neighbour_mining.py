"""Neighbour mining at scale: faiss exact search against approximate indexes.

    nice -n 19 python benchmarks/neighbour_mining.py --sizes 10000 100000 --dims 32 512
    nice -n 19 python benchmarks/neighbour_mining.py --sizes 1000000 --dims 32 --indexes exact ivf hnsw
    python benchmarks/neighbour_mining.py --smoke      # seconds: does it still run?

SCAN mines the k = 20 nearest codes of every image by cosine similarity
(``irl_inr.metrics.nearest_neighbours``: ``IndexFlatIP`` on unit vectors, the point itself
left out).  This compares that exact search with two approximate indexes on synthetic
codes, a seeded Gaussian mixture (float32, unit rows, generated in chunks):

* ``exact``: ``IndexFlatIP``;
* ``ivf``: ``IndexIVFFlat`` (inner product) with ``nlist = 4 sqrt(N)`` lists, k-means
  trained on a seeded subsample of ``--train-per-list * nlist`` codes for
  ``--kmeans-iterations`` iterations, searched with each ``--nprobe``;
* ``hnsw``: ``IndexHNSWFlat`` with 32 links per node (inner product), default
  ``efConstruction`` (40), searched with each ``--ef-search``.

Only ``--queries`` codes (a seeded sample of the database) are searched; the time to
mine all N codes is that search time times N / queries (a linear extrapolation: every
query costs the same on average).  Recall@k is the share of the exact k neighbours that
the approximate index returns for the same queries.  Times are wall and CPU seconds
(``*_cpu_s``, the process's CPU time: the better figure on a shared machine).  Peak memory is the process's
resident-set high-water mark (``VmHWM``), reset before each index is built, so it
includes the codes themselves (``codes_mb``).

Prints one JSON line per (N, d, index, search setting).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import faiss
import numpy as np

CHUNK_ROWS = 100_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[32, 512])
    parser.add_argument("--indexes", nargs="+", choices=["exact", "ivf", "hnsw"], default=["exact", "ivf", "hnsw"])
    parser.add_argument("--queries", type=int, default=2000, help="codes searched (a seeded sample of the database)")
    parser.add_argument("--k", type=int, default=20, help="neighbours per code, as SCAN mines")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[1, 8, 32], help="IVF lists visited per query")
    parser.add_argument("--ef-search", type=int, nargs="+", default=[64, 128], help="HNSW candidate list size")
    parser.add_argument("--train-per-list", type=int, default=32, help="k-means training codes per IVF list")
    parser.add_argument("--kmeans-iterations", type=int, default=10)
    parser.add_argument("--mixture-components", type=int, default=100, help="Gaussian clusters in the codes")
    parser.add_argument("--spread", type=float, default=1.0, help="within-cluster std relative to the centres' std")
    parser.add_argument("--threads", type=int, default=1, help="faiss OpenMP threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="seconds: 400 codes of 8 dimensions (CI runs this)")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.dims, args.queries, args.k, args.mixture_components = [400], [8], 50, 5, 4
        args.nprobe, args.ef_search, args.train_per_list = [1], [16], 8
    return args


def clustered_codes(count: int, dim: int, components: int, spread: float, seed: int) -> np.ndarray:
    """(count, dim) float32 unit rows drawn from a seeded Gaussian mixture, chunk by chunk."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((components, dim), dtype=np.float32)
    codes = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, count)
        chunk = codes[start:stop]
        rng.standard_normal(out=chunk, dtype=np.float32)
        chunk *= spread
        chunk += centres[rng.integers(0, components, stop - start)]
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
    return codes


def reset_peak_rss() -> None:
    """Reset this process's resident-set high-water mark (Linux: ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM missing from /proc/self/status")


def search_without_self(index, codes: np.ndarray, query_ids: np.ndarray, k: int) -> tuple[np.ndarray, tuple]:
    """k neighbours of each query other than itself (as ``nearest_neighbours`` drops it), and the
    (wall, CPU) seconds taken."""
    start, cpu_start = time.perf_counter(), time.process_time()
    _, found = index.search(codes[query_ids], k + 1)
    seconds = (time.perf_counter() - start, time.process_time() - cpu_start)
    keep = found != query_ids[:, None]
    keep[keep.all(axis=1), -1] = False
    return found[keep].reshape(len(query_ids), k), seconds


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    hits = sum(len(np.intersect1d(row, truth, assume_unique=True)) for row, truth in zip(found, exact))
    return hits / exact.size


def main() -> None:
    args = parse_args()
    faiss.omp_set_num_threads(args.threads)
    machine = f"{platform.processor() or platform.machine()}, {args.threads} faiss thread(s)"
    for count in args.sizes:
        for dim in args.dims:
            start = time.perf_counter()
            codes = clustered_codes(count, dim, args.mixture_components, args.spread, args.seed)
            generate_s = time.perf_counter() - start
            rng = np.random.default_rng(args.seed + 1)
            query_ids = np.sort(rng.choice(count, size=min(args.queries, count), replace=False)).astype(np.int64)
            common = {
                "n": count,
                "dim": dim,
                "k": args.k,
                "queries": len(query_ids),
                "codes_mb": round(codes.nbytes / 2**20, 1),
                "generate_s": round(generate_s, 2),
                "machine": machine,
                "faiss": faiss.__version__,
            }

            reset_peak_rss()
            start = (time.perf_counter(), time.process_time())
            exact_index = faiss.IndexFlatIP(dim)
            exact_index.add(codes)
            build_s = elapsed(start)
            exact, search_s = search_without_self(exact_index, codes, query_ids, args.k)
            del exact_index
            if "exact" in args.indexes:
                report(common, "exact", {}, build_s, search_s, peak_rss_mb(), 1.0)

            if "ivf" in args.indexes:
                nlist = max(1, round(4 * math.sqrt(count)))
                reset_peak_rss()
                start = (time.perf_counter(), time.process_time())
                quantiser = faiss.IndexFlatIP(dim)
                index = faiss.IndexIVFFlat(quantiser, dim, nlist, faiss.METRIC_INNER_PRODUCT)
                index.cp.niter = args.kmeans_iterations
                index.cp.seed = args.seed
                training = min(count, args.train_per_list * nlist)
                train_ids = np.sort(rng.choice(count, size=training, replace=False))
                index.train(codes[train_ids])
                index.add(codes)
                build_s = elapsed(start)
                for nprobe in args.nprobe:
                    index.nprobe = nprobe
                    found, search_s = search_without_self(index, codes, query_ids, args.k)
                    settings = {"nlist": nlist, "nprobe": nprobe, "train_codes": training,
                                "kmeans_iterations": args.kmeans_iterations}
                    report(common, "ivf_flat", settings, build_s, search_s, peak_rss_mb(), recall(found, exact))
                del index, quantiser

            if "hnsw" in args.indexes:
                reset_peak_rss()
                start = (time.perf_counter(), time.process_time())
                index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
                index.add(codes)
                build_s = elapsed(start)
                for ef_search in args.ef_search:
                    index.hnsw.efSearch = ef_search
                    found, search_s = search_without_self(index, codes, query_ids, args.k)
                    settings = {"links": 32, "ef_construction": index.hnsw.efConstruction, "ef_search": ef_search}
                    report(common, "hnsw_flat", settings, build_s, search_s, peak_rss_mb(), recall(found, exact))
                del index
            del codes


def elapsed(start: tuple[float, float]) -> tuple[float, float]:
    """(wall, CPU) seconds since ``start`` = (perf_counter, process_time)."""
    return time.perf_counter() - start[0], time.process_time() - start[1]


def report(
    common: dict, index: str, settings: dict, build_s: tuple, search_s: tuple, peak_mb: float, recall_at_k: float
) -> None:
    scale = common["n"] / common["queries"]
    print(
        json.dumps(
            {
                **common,
                "index": index,
                **settings,
                "build_s": round(build_s[0], 3),
                "build_cpu_s": round(build_s[1], 3),
                "search_s": round(search_s[0], 4),
                "search_cpu_s": round(search_s[1], 4),
                "all_pairs_s_extrapolated": round(search_s[0] * scale, 2),
                "all_pairs_cpu_s_extrapolated": round(search_s[1] * scale, 2),
                "peak_rss_mb": round(peak_mb, 1),
                f"recall_at_{common['k']}": round(recall_at_k, 4),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
