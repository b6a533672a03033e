from kedro.pipeline import Node, Pipeline

from irl_inr.domains.mnist_u.augmentation import build_mnist_u, digit_front_end, preview_mnist_u
from irl_inr.domains.mnist_u.ingestion import ingest_mnist


def create_pipeline(**kwargs) -> Pipeline:
    """MNIST-U's front end: the domain's ``images`` and ``image_table`` (see
    ``irl_inr.pipeline_registry``)."""
    ingestion = Pipeline(
        [
            Node(
                ingest_mnist,
                inputs=["mnist_raw", "params:ingestion"],
                outputs=["mnist_digits", "mnist_digit_table"],
                name="ingest_mnist",
            )
        ],
        tags="ingestion",
    )
    augmentation = Pipeline(
        [
            Node(
                build_mnist_u,
                inputs=["mnist_digits", "mnist_digit_table", "params:augmentation"],
                outputs=["images", "image_table"],
                name="build_mnist_u",
            ),
            Node(
                preview_mnist_u,
                inputs=["mnist_digits", "images", "image_table", "params:augmentation"],
                outputs="preview",
                name="preview_mnist_u",
            ),
        ],
        tags="augmentation",
    )
    return ingestion + augmentation


def create_new_image_front_end(**kwargs) -> Pipeline:
    """MNIST-U's front end for the ``predict`` pipeline's new images: ``new_image_front_end``."""
    return Pipeline(
        [Node(digit_front_end, inputs="params:augmentation", outputs="new_image_front_end", name="new_image_front_end")]
    )
