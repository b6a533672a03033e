from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.reporting.nodes import build_report, collect_metrics
from irl_inr.pipelines.reporting.sections import model_option_sections, view_spread_sections

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
    "model_options": "model_option_sections",
    "view_spread": "view_spread_sections",
}


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                collect_metrics,
                inputs=[
                    "params:reporting.domain", "embedding_metrics", "clustering_metrics", "isometry_metrics",
                    "interpretation_metrics",
                ],
                outputs="metrics",
                name="collect_metrics",
            ),
            Node(
                model_option_sections,
                inputs=[
                    "irl_inr_model", "isometry_metrics", "interpretation_model", "interpretation_metrics",
                    "semantic_codes", "image_table", "params:interpretation", "params:reporting",
                ],
                outputs="model_option_sections",
                name="report_model_options",
            ),
            Node(
                view_spread_sections,
                inputs=["cluster_assignments", "clustering_comparison", "image_table"],
                outputs="view_spread_sections",
                name="report_view_spread",
            ),
            Node(build_report, inputs=REPORT_INPUTS, outputs="report", name="build_report"),
        ],
        tags="reporting",
    )
