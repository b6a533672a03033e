from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.training.nodes import train_irl_inr


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_irl_inr,
                inputs=["images", "image_table", "params:training"],
                outputs=["irl_inr_model", "training_history"],
                name="train_irl_inr",
            )
        ],
        tags="training",
    )
