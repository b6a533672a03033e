from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.reporting.nodes import merge_metrics


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                merge_metrics,
                inputs=["params:reporting.domain", "embedding_metrics", "clustering_metrics"],
                outputs="metrics",
                name="merge_metrics",
            )
        ]
    )
