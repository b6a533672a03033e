import math

import pytest

from irl_inr.pipelines.reporting.nodes import flatten_metrics, merge_metrics


def test_flatten_nested_numbers_only():
    flat = flatten_metrics("mnist_u", {"recon_mse": 0.01, "kmeans_z": {"acc": 0.5, "nmi": 0.4}, "note": "text", "ok": True})
    assert flat == {"mnist_u.recon_mse": 0.01, "mnist_u.kmeans_z.acc": 0.5, "mnist_u.kmeans_z.nmi": 0.4, "mnist_u.ok": 1}


def test_merge_sorts_and_refuses_duplicates():
    merged = merge_metrics("d", {"b": 1}, {"a": {"x": 2}})
    assert list(merged) == ["d.a.x", "d.b"]
    with pytest.raises(ValueError, match="d.b is reported by two stages"):
        merge_metrics("d", {"b": 1}, {"b": 2})


def test_nan_metric_is_an_error():
    with pytest.raises(ValueError, match="mnist_u.recon_mse is nan"):
        flatten_metrics("mnist_u", {"recon_mse": math.nan})
