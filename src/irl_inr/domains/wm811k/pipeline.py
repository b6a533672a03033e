from kedro.pipeline import Node, Pipeline

from irl_inr.domains.wm811k.nodes import ingest_wafers, preview_wafers, rotate_wafers, wafer_front_end


def create_pipeline(**kwargs) -> Pipeline:
    """WM-811K's front end: the domain's ``images`` and ``image_table`` (see
    ``irl_inr.pipeline_registry``), un-namespaced."""
    ingestion = Pipeline(
        [
            Node(
                ingest_wafers,
                inputs=["raw_wafers", "params:ingestion"],
                outputs=["die_maps", "wafer_table"],
                name="ingest_wafers",
            )
        ],
        tags="ingestion",
    )
    augmentation = Pipeline(
        [
            Node(
                rotate_wafers,
                inputs=["die_maps", "wafer_table", "params:ingestion", "params:augmentation"],
                outputs=["images", "image_table"],
                name="rotate_wafers",
            ),
            Node(
                preview_wafers,
                inputs=["die_maps", "images", "image_table", "params:augmentation"],
                outputs="preview",
                name="preview_wafers",
            ),
        ],
        tags="augmentation",
    )
    return ingestion + augmentation


def create_new_image_front_end(**kwargs) -> Pipeline:
    """WM-811K's front end for the ``predict`` pipeline's new images: ``new_image_front_end``."""
    return Pipeline(
        [
            Node(
                wafer_front_end, inputs=["params:ingestion", "params:augmentation"], outputs="new_image_front_end",
                name="new_image_front_end",
            )
        ]
    )
