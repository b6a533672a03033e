"""The ``predict`` pipeline, un-namespaced: a domain's trained models applied to
``new_images``. Register it under the domain's namespace (``<domain>_predict``), where it
reads that domain's models, codes, cluster assignments and front-end parameters."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from irl_inr.domains import DOMAINS
from irl_inr.pipelines.predict.nodes import calibrate_novelty, predict_new_images


def create_pipeline(domain: str = "mnist_u", **kwargs) -> Pipeline:
    """The domain's front end for new images (its ``new_image_front_end`` node), novelty
    calibration and prediction."""
    if domain not in DOMAINS:
        raise ValueError(f"predict create_pipeline: domain must be one of {sorted(DOMAINS)}, got {domain!r}")
    prediction = Pipeline(
        [
            Node(
                calibrate_novelty,
                inputs=["semantic_codes", "predicted_poses", "cluster_assignments", "params:predict"],
                outputs="novelty_reference",
                name="calibrate_novelty",
            ),
            Node(
                predict_new_images,
                inputs=[
                    "irl_inr_model", "scan_model", "selflabel_model", "novelty_reference", "new_images",
                    "new_image_front_end", "params:predict",
                ],
                outputs=["predictions", "new_canonical_images"],
                name="predict_new_images",
            ),
        ]
    )
    return Pipeline(DOMAINS[domain].new_image_front_end() + prediction, tags="predict")
