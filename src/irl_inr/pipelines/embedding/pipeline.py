"""The embedding stage: codes and poses (``extract_embeddings``, the encoder alone), then
the renders (``render_images``: reconstructions and canonical images, for the measures,
the figures and the cluster galleries), the closed-form rotation-invariant features the
code is measured against (``compute_closed_form_features``), the measures and the figure.  Codes alone:
``kedro run --to-nodes <domain>.extract_embeddings``."""

from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.embedding.nodes import (
    compute_closed_form_features,
    extract_embeddings,
    measure_embeddings,
    plot_reconstructions,
    render_images,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                extract_embeddings,
                inputs=["irl_inr_model", "images", "image_table", "params:embedding"],
                outputs=["semantic_codes", "predicted_poses"],
                name="extract_embeddings",
            ),
            Node(
                render_images,
                inputs=["irl_inr_model", "semantic_codes", "predicted_poses", "params:embedding"],
                outputs=["reconstructions", "canonical_images"],
                name="render_images",
            ),
            Node(
                compute_closed_form_features,
                inputs=["images", "image_table", "params:embedding"],
                outputs="closed_form_features",
                name="compute_closed_form_features",
            ),
            Node(
                measure_embeddings,
                inputs=[
                    "irl_inr_model", "images", "image_table", "semantic_codes",
                    "predicted_poses", "reconstructions", "closed_form_features", "params:embedding",
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
