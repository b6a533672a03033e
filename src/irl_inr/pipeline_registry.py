"""Project pipelines: one per domain, each the domain's own front end followed by the
shared stages, under the domain's namespace.

A front end (``irl_inr.domains.<domain>``, listed in ``irl_inr.domains.DOMAINS``) turns the domain's raw data into two
datasets, ``images`` (N, S, S) or, with C channels, (N, C, S, S) in [0, 1] and ``image_table`` (one row per image: label,
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
from irl_inr.pipelines.clustering.sharding import sharded_mining
from irl_inr.domains import DOMAINS
from irl_inr.pipelines.embedding import pipeline as embedding
from irl_inr.pipelines.embedding.sharding import sharded_extraction
from irl_inr.pipelines.interpretation import pipeline as interpretation
from irl_inr.pipelines.interpretation.isometry import measure_isometry
from irl_inr.pipelines.predict import pipeline as predict
from irl_inr.pipelines.reporting import pipeline as reporting
from irl_inr.pipelines.training import pipeline as training

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


# Shards of the ``<domain>_sharded`` variants: the shape of the graph, fixed when it is
# built (``--params`` cannot change it), and the same results as one shard.
SHARDS = 4


def shared_stages(shards: int = 1, front_end_parameters=()) -> Pipeline:
    """Training -> embedding -> clustering and interpretation -> reporting on ``images`` /
    ``image_table``; with ``shards`` > 1, embedding extraction and neighbour mining run as
    that many nodes over row ranges (memory-mapped images), for a parallel runner."""
    embedding_stage, clustering_stage = embedding.create_pipeline(), clustering.create_pipeline()
    if shards > 1:
        embedding_stage = (embedding_stage - embedding_stage.only_nodes("extract_embeddings")) + Pipeline(
            sharded_extraction(shards), tags="embedding"
        )
        clustering_stage = (clustering_stage - clustering_stage.only_nodes("mine_neighbours")) + Pipeline(
            sharded_mining(shards), tags="clustering"
        )
    return (
        training.create_pipeline()
        + embedding_stage
        + isometry_stage()
        + clustering_stage
        + interpretation.create_pipeline()
        + reporting.create_pipeline(front_end_parameters=front_end_parameters)
    )


def domain_pipeline(front_end: Pipeline, namespace: str, shards: int = 1) -> Pipeline:
    """A domain's front end and the shared stages, under the domain's namespace."""
    front_end_parameters = sorted(name for name in front_end.inputs() if name.startswith("params:"))
    return Pipeline(front_end + shared_stages(shards, front_end_parameters), namespace=namespace)


def register_pipelines() -> dict[str, Pipeline]:
    """``mnist_u``, ``wm811k``, ``cryo_em`` (simulated particles) and ``cryo_em_star`` (a
    RELION stack, same namespace) end to end; ``<domain>_sharded``, the same with embedding
    and mining split into shards (for ``--runner=irl_inr.runner.DaskRunner``); and
    ``<domain>_predict``: the domain's trained models applied to new images. The default is
    MNIST-U on the embedded digits."""
    pipelines = {}
    for domain in DOMAINS.values():
        for name, front_end in domain.front_ends.items():
            pipelines[name] = domain_pipeline(front_end(), domain.name)
        pipelines[f"{domain.name}_sharded"] = domain_pipeline(domain.front_ends[domain.name](), domain.name, SHARDS)
        pipelines[f"{domain.name}_predict"] = Pipeline(predict.create_pipeline(domain=domain.name), namespace=domain.name)
    pipelines["__default__"] = pipelines["mnist_u"]
    return pipelines
