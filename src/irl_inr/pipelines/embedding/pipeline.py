from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.embedding.nodes import extract_embeddings, measure_embeddings, plot_reconstructions


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                extract_embeddings,
                inputs=["irl_inr_model", "images", "image_table", "params:embedding"],
                outputs=["semantic_codes", "predicted_poses", "reconstructions", "canonical_images"],
                name="extract_embeddings",
            ),
            Node(
                measure_embeddings,
                inputs=[
                    "irl_inr_model", "images", "image_table", "semantic_codes",
                    "predicted_poses", "reconstructions", "params:embedding",
                ],
                outputs="embedding_metrics",
                name="measure_embeddings",
            ),
            Node(
                plot_reconstructions,
                inputs=["images", "image_table", "reconstructions", "canonical_images", "params:embedding"],
                outputs="reconstruction_figure",
                name="plot_reconstructions",
            ),
        ],
        tags="embedding",
    )
