"""The ``predict`` pipeline, un-namespaced: a domain's trained models applied to
``new_images``. Register it under the domain's namespace (``<domain>_predict``), where it
reads that domain's models, codes, cluster assignments and front-end parameters."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.predict.nodes import (
    calibrate_novelty,
    digit_front_end,
    particle_front_end,
    predict_new_images,
    wafer_front_end,
)

# Each domain's front end for new images and the parameter sections it reads.
FRONT_ENDS = {
    "mnist_u": (digit_front_end, ["params:augmentation"]),
    "wm811k": (wafer_front_end, ["params:ingestion", "params:augmentation"]),
    "cryo_em": (particle_front_end, ["params:preprocessing"]),
}


def create_pipeline(domain: str = "mnist_u", **kwargs) -> Pipeline:
    if domain not in FRONT_ENDS:
        raise ValueError(f"predict create_pipeline: domain must be one of {sorted(FRONT_ENDS)}, got {domain!r}")
    front_end, front_end_parameters = FRONT_ENDS[domain]
    return Pipeline(
        [
            Node(front_end, inputs=front_end_parameters, outputs="new_image_front_end", name="new_image_front_end"),
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
        ],
        tags="predict",
    )
