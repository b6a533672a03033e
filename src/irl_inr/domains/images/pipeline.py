from kedro.pipeline import Node, Pipeline

from irl_inr.domains.images.nodes import image_front_end, ingest_images, pose_images, preview_images


def create_pipeline(**kwargs) -> Pipeline:
    """The images domain's front end: the domain's ``images`` and ``image_table`` (see
    ``irl_inr.pipeline_registry``), un-namespaced. ``set_reference`` is kept for new images."""
    ingestion = Pipeline(
        [
            Node(
                ingest_images,
                inputs=["raw_images", "params:ingestion"],
                outputs=["prepared_images", "prepared_table", "set_reference"],
                name="ingest_images",
            )
        ],
        tags="ingestion",
    )
    augmentation = Pipeline(
        [
            Node(
                pose_images,
                inputs=["prepared_images", "prepared_table", "params:augmentation"],
                outputs=["images", "image_table"],
                name="pose_images",
            ),
            Node(
                preview_images,
                inputs=["prepared_images", "images", "image_table", "params:augmentation"],
                outputs="preview",
                name="preview_images",
            ),
        ],
        tags="augmentation",
    )
    return ingestion + augmentation


def create_new_image_front_end(**kwargs) -> Pipeline:
    """The images domain's front end for the ``predict`` pipeline's new images:
    ``new_image_front_end``, from ``images.ingestion`` and the ingested ``set_reference``."""
    return Pipeline(
        [
            Node(
                image_front_end, inputs=["params:ingestion", "set_reference"], outputs="new_image_front_end",
                name="new_image_front_end",
            )
        ]
    )
