from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.reporting.nodes import build_report, build_summary, collect_metrics, gather_parameters
from irl_inr.pipelines.reporting.sections import model_option_sections, view_spread_sections

# The parameter sections of the shared stages, shown in the report's provenance block
# with those of the domain's front end (``create_pipeline(front_end_parameters=...)``).
SHARED_SECTIONS = ("training", "embedding", "clustering", "interpretation", "isometry", "reporting")

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
    "parameters": "run_parameters",
    "provenance": "provenance",
    "model_options": "model_option_sections",
    "view_spread": "view_spread_sections",
}


def create_pipeline(front_end_parameters=(), **kwargs) -> Pipeline:
    """``front_end_parameters``: the ``params:<section>`` inputs of the domain's front end."""
    sections = [*(name.removeprefix("params:") for name in front_end_parameters), *SHARED_SECTIONS]
    return Pipeline(
        [
            Node(
                gather_parameters,
                inputs={section: f"params:{section}" for section in dict.fromkeys(sections)},
                outputs="run_parameters",
                name="gather_parameters",
            ),
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
                    "irl_inr_model", "isometry_metrics", "interpretation_metrics", "interpretation_traversals",
                    "traversal_metrics", "params:reporting",
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
            Node(
                build_summary,
                inputs=["report", "all_reports", "all_clustering_comparisons", "params:reporting"],
                outputs="summary",
                name="build_summary",
            ),
        ],
        tags="reporting",
    )
