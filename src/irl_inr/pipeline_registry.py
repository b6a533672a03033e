"""Project pipelines: one per domain, each the domain's own front end followed by the
shared stages, under the domain's namespace.

A front end (``irl_inr.pipelines.<domain>``) turns the domain's raw data into two
datasets, ``images`` (N, S, S) in [0, 1] and ``image_table`` (one row per image: label,
split, ground-truth pose).  The shared stages (training, embedding, clustering,
reporting) read only those, so inside the namespace ``wm811k`` they become
``wm811k.images`` and ``wm811k.image_table`` and every dataset and parameter section of
the domain is ``wm811k.<name>`` (catalog factories in ``conf/base/catalog.yml``, the
domain's parameters in ``conf/base/parameters_<domain>.yml``).  Every node is tagged by
its stage, so ``kedro run --pipelines mnist_u --tags training`` runs one stage.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from irl_inr.pipelines import clustering, embedding, mnist_u, reporting, training

STAGES = ("ingestion", "augmentation", "training", "embedding", "clustering", "reporting")


def shared_stages() -> Pipeline:
    """Training -> embedding -> clustering -> reporting on ``images`` / ``image_table``."""
    return (
        training.create_pipeline()
        + embedding.create_pipeline()
        + clustering.create_pipeline()
        + reporting.create_pipeline()
    )


def domain_pipeline(front_end: Pipeline, namespace: str) -> Pipeline:
    """A domain's front end and the shared stages, under the domain's namespace."""
    return Pipeline(front_end + shared_stages(), namespace=namespace)


def register_pipelines() -> dict[str, Pipeline]:
    """``mnist_u``, ``wm811k``, ``cryo_em`` (and variants) end to end; the default is
    MNIST-U on the embedded digits."""
    pipelines = {"mnist_u": domain_pipeline(mnist_u.create_pipeline(), "mnist_u")}
    pipelines["__default__"] = pipelines["mnist_u"]
    return pipelines
