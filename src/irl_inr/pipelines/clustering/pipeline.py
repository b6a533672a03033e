from kedro.pipeline import Node, Pipeline

from irl_inr.pipelines.clustering.figures import plot_cluster_exemplars, plot_confusion_matrix, plot_dti_prototypes
from irl_inr.pipelines.clustering.comparison import assign_clusters, cluster_baselines, compare_clusterings
from irl_inr.pipelines.clustering.nodes import mine_neighbours, train_dti, train_scan, train_selflabel


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                mine_neighbours,
                inputs=["semantic_codes", "predicted_poses", "params:clustering"],
                outputs=["scan_neighbours", "mining_metrics"],
                name="mine_neighbours",
            ),
            Node(
                train_scan,
                inputs=["irl_inr_model", "images", "image_table", "scan_neighbours", "params:clustering"],
                outputs=["scan_model", "scan_history"],
                name="train_scan",
            ),
            Node(
                train_selflabel,
                inputs=["irl_inr_model", "scan_model", "images", "image_table", "params:clustering"],
                outputs=["selflabel_model", "selflabel_history"],
                name="train_selflabel",
            ),
            Node(
                train_dti,
                inputs=["images", "image_table", "params:clustering"],
                outputs=["dti_model", "dti_history"],
                name="train_dti",
            ),
            Node(
                cluster_baselines,
                inputs=[
                    "images", "image_table", "semantic_codes", "predicted_poses", "scan_neighbours",
                    "closed_form_features", "params:clustering",
                ],
                outputs=["baseline_clusters", "baseline_seconds"],
                name="cluster_baselines",
            ),
            Node(
                assign_clusters,
                inputs=[
                    "irl_inr_model", "scan_model", "selflabel_model", "dti_model", "images",
                    "image_table", "baseline_clusters", "params:clustering",
                ],
                outputs="cluster_assignments",
                name="assign_clusters",
            ),
            Node(
                compare_clusterings,
                inputs=[
                    "cluster_assignments", "baseline_seconds", "scan_model", "selflabel_model", "dti_model",
                    "mining_metrics", "params:clustering",
                ],
                outputs=["clustering_comparison", "clustering_metrics"],
                name="compare_clusterings",
            ),
            Node(
                plot_confusion_matrix,
                inputs=["cluster_assignments", "params:clustering"],
                outputs="confusion_matrix_figure",
                name="plot_confusion_matrix",
            ),
            Node(
                plot_cluster_exemplars,
                inputs=["cluster_assignments", "canonical_images", "predicted_poses", "params:clustering"],
                outputs="cluster_exemplars_figure",
                name="plot_cluster_exemplars",
            ),
            Node(
                plot_dti_prototypes,
                inputs=["dti_model", "cluster_assignments"],
                outputs="dti_prototypes_figure",
                name="plot_dti_prototypes",
            ),
        ],
        tags="clustering",
    )
