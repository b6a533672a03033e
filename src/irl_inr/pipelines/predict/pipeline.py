"""The ``predict`` pipeline, un-namespaced: a domain's trained models applied to
``new_images``. Register it under the domain's namespace (``<domain>_predict``), where it
reads that domain's models, codes, cluster assignments and front-end parameters."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.cryo_em import pipeline as cryo_em
from irl_inr.pipelines.mnist_u import pipeline as mnist_u
from irl_inr.pipelines.predict.nodes import calibrate_novelty, predict_new_images
from irl_inr.pipelines.wm811k import pipeline as wm811k

# Each domain's front end for new images: the domain pipeline's own ``new_image_front_end``.
FRONT_ENDS = {
    "mnist_u": mnist_u.create_new_image_front_end,
    "wm811k": wm811k.create_new_image_front_end,
    "cryo_em": cryo_em.create_new_image_front_end,
}


def create_pipeline(domain: str = "mnist_u", **kwargs) -> Pipeline:
    if domain not in FRONT_ENDS:
        raise ValueError(f"predict create_pipeline: domain must be one of {sorted(FRONT_ENDS)}, got {domain!r}")
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
    return Pipeline(FRONT_ENDS[domain]() + prediction, tags="predict")
