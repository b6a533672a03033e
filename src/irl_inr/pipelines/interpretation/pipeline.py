from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.interpretation.nodes import (
    measure_interpretation,
    measure_traversals,
    plot_traversals,
    train_interpretation,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_interpretation,
                inputs=["semantic_codes", "image_table", "params:interpretation"],
                outputs="interpretation_model",
                name="train_interpretation",
            ),
            Node(
                measure_interpretation,
                inputs=["interpretation_model", "semantic_codes", "image_table"],
                outputs="interpretation_metrics",
                name="measure_interpretation",
            ),
            Node(
                plot_traversals,
                inputs=["interpretation_model", "irl_inr_model", "semantic_codes", "image_table", "params:interpretation"],
                outputs="interpretation_traversals",
                name="plot_traversals",
            ),
            Node(
                measure_traversals,
                inputs=["interpretation_model", "irl_inr_model", "semantic_codes", "image_table", "params:interpretation"],
                outputs="traversal_metrics",
                name="measure_traversals",
            ),
        ],
        tags="interpretation",
    )
