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

from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.clustering import pipeline as clustering
from irl_inr.pipelines.cryo_em import pipeline as cryo_em
from irl_inr.pipelines.embedding import pipeline as embedding
from irl_inr.pipelines.interpretation import pipeline as interpretation
from irl_inr.pipelines.mnist_u import pipeline as mnist_u
from irl_inr.pipelines.predict import pipeline as predict
from irl_inr.pipelines.reporting import pipeline as reporting
from irl_inr.pipelines.training import pipeline as training
from irl_inr.pipelines.wm811k import pipeline as wm811k
from irl_inr.pipelines.interpretation.isometry import measure_isometry

STAGES = ("ingestion", "augmentation", "training", "embedding", "clustering", "interpretation", "reporting", "predict")


def isometry_stage() -> Pipeline:
    """The decoder's mean condition number (IRVAE's measure), part of the embedding stage."""
    return Pipeline(
        [
            Node(
                measure_isometry,
                inputs=["irl_inr_model", "semantic_codes", "params:isometry"],
                outputs="isometry_metrics",
                name="measure_isometry",
            )
        ],
        tags="embedding",
    )


def shared_stages() -> Pipeline:
    """Training -> embedding -> clustering and interpretation -> reporting on ``images`` /
    ``image_table``."""
    return (
        training.create_pipeline()
        + embedding.create_pipeline()
        + isometry_stage()
        + clustering.create_pipeline()
        + interpretation.create_pipeline()
        + reporting.create_pipeline()
    )


def domain_pipeline(front_end: Pipeline, namespace: str) -> Pipeline:
    """A domain's front end and the shared stages, under the domain's namespace."""
    return Pipeline(front_end + shared_stages(), namespace=namespace)


def register_pipelines() -> dict[str, Pipeline]:
    """``mnist_u``, ``wm811k``, ``cryo_em`` (simulated particles) and ``cryo_em_star`` (a
    RELION stack, same namespace) end to end, and ``<domain>_predict``: the domain's trained
    models applied to new images; the default is MNIST-U on the embedded digits."""
    pipelines = {
        "mnist_u": domain_pipeline(mnist_u.create_pipeline(), "mnist_u"),
        "wm811k": domain_pipeline(wm811k.create_pipeline(), "wm811k"),
        "cryo_em": domain_pipeline(cryo_em.create_pipeline(source="simulate"), "cryo_em"),
        "cryo_em_star": domain_pipeline(cryo_em.create_pipeline(source="star"), "cryo_em"),
    }
    for domain in ("mnist_u", "wm811k", "cryo_em"):
        pipelines[f"{domain}_predict"] = Pipeline(predict.create_pipeline(domain=domain), namespace=domain)
    pipelines["__default__"] = pipelines["mnist_u"]
    return pipelines
