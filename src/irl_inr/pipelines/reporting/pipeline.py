from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.reporting.nodes import build_report, merge_metrics

# The report's inputs by keyword; a domain without one of the stages' outputs can
# leave it out (its section is then left out of the report).
REPORT_INPUTS = {
    "reporting_parameters": "params:reporting",
    "images": "images",
    "image_table": "image_table",
    "training_history": "training_history",
    "semantic_codes": "semantic_codes",
    "predicted_poses": "predicted_poses",
    "reconstructions": "reconstructions",
    "canonical_images": "canonical_images",
    "embedding_metrics": "embedding_metrics",
    "cluster_assignments": "cluster_assignments",
    "clustering_comparison": "clustering_comparison",
    "mining_metrics": "mining_metrics",
    "training_parameters": "params:training",
    "embedding_parameters": "params:embedding",
    "clustering_parameters": "params:clustering",
}


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                merge_metrics,
                inputs=["params:reporting.domain", "embedding_metrics", "clustering_metrics"],
                outputs="metrics",
                name="merge_metrics",
            ),
            Node(build_report, inputs=REPORT_INPUTS, outputs="report", name="build_report"),
        ],
        tags="reporting",
    )
