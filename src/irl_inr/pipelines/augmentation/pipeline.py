from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.augmentation.nodes import build_mnist_u, preview_mnist_u


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                build_mnist_u,
                inputs=["mnist_digits", "mnist_digit_table", "params:augmentation"],
                outputs=["mnist_u_images", "mnist_u_poses"],
                name="build_mnist_u",
            ),
            Node(
                preview_mnist_u,
                inputs=["mnist_digits", "mnist_u_images", "mnist_u_poses", "params:augmentation"],
                outputs="mnist_u_preview",
                name="preview_mnist_u",
            ),
        ]
    )
