from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.ingestion.nodes import ingest_mnist


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                ingest_mnist,
                inputs=["mnist_raw", "params:ingestion"],
                outputs=["mnist_digits", "mnist_digit_table"],
                name="ingest_mnist",
            )
        ]
    )
