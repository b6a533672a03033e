import numpy as np
import pytest

from irl_inr.domains.mnist_u.ingestion import ingest_mnist


def raw(images, labels, source="test"):
    return {"images": images, "labels": labels, "source": source}


def test_shuffles_splits_stratified_and_keeps_source_index(tiny_digits):
    images, labels = tiny_digits
    digits, table = ingest_mnist(raw(images, labels), {"seed": 3, "test_fraction": 1 / 3})
    assert digits.shape == images.shape
    assert np.array_equal(digits, images[table["source_index"].to_numpy()])
    assert np.array_equal(table["label"].to_numpy(), labels[table["source_index"].to_numpy()])
    assert (table["label_name"] == table["label"].astype(str)).all() and table["label"].dtype == np.int64
    assert not np.array_equal(table["source_index"].to_numpy(), np.arange(30))  # shuffled
    per_class = table.groupby("label")["split"].apply(lambda s: (s == "test").sum())
    assert per_class.tolist() == [1] * 10
    assert table["image_id"].tolist() == list(range(30))


def test_same_seed_same_result_other_seed_other_order(tiny_digits):
    images, labels = tiny_digits
    _, a = ingest_mnist(raw(images, labels), {"seed": 1})
    _, b = ingest_mnist(raw(images, labels), {"seed": 1})
    _, c = ingest_mnist(raw(images, labels), {"seed": 2})
    assert a.equals(b) and not a.equals(c)


def test_max_images_keeps_every_class(tiny_digits):
    images, labels = tiny_digits
    digits, table = ingest_mnist(raw(images, labels), {"max_images": 10, "test_fraction": 0.0})
    assert len(digits) == 10 and sorted(table["label"]) == list(range(10))


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"test_fraction": 1.5}, r"ingestion.test_fraction = 1.5"),
        ({"max_images": 3}, r"ingestion.max_images"),
        ({"sede": 1}, r"unknown parameter\(s\) \['sede'\]"),
    ],
)
def test_bad_parameters_are_named(tiny_digits, parameters, message):
    with pytest.raises(ValueError, match=message):
        ingest_mnist(raw(*tiny_digits), parameters)


def test_bad_arrays_name_the_source(tiny_digits):
    images, labels = tiny_digits
    with pytest.raises(ValueError, match=r"file.gz: digits must have shape"):
        ingest_mnist(raw(images[:, :27], labels, "file.gz"), {})
    with pytest.raises(ValueError, match=r"30 digits but labels"):
        ingest_mnist(raw(images, labels[:5]), {})
    with pytest.raises(ValueError, match=r"labels must be 0..9"):
        ingest_mnist(raw(images, labels + 5), {})


def test_class_quotas_add_up_exactly():
    from irl_inr.domains.mnist_u.ingestion import class_quotas

    counts = np.array([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    for total in (10, 300, 999, 10000):
        quotas = class_quotas(counts, total)
        assert quotas.sum() == total and (quotas >= 1).all()
