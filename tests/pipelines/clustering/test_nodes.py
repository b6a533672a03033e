"""Clustering nodes on 40 tiny synthetic shapes with a tiny random IRL-INR."""

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import torch_threads_for_tests
import yaml
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from irl_inr import baselines, metrics
from irl_inr.inference import cluster_probabilities, images_as_tensor
from irl_inr.invariant_features import feature_table
from irl_inr.metrics.clustering import pairwise_rand_index
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.pipelines.clustering.figures import plot_cluster_exemplars, plot_confusion_matrix, plot_dti_prototypes
from irl_inr.pipelines.clustering.comparison import (
    HEAD_AGREEMENT,
    METHODS,
    assign_clusters,
    cluster_baselines,
    compare_clusterings,
)
from irl_inr.pipelines.clustering.nodes import mine_neighbours, train_dti, train_scan, train_selflabel
from irl_inr.pipelines.clustering.parameters import ClusteringParameters
from irl_inr.pipelines.clustering.pipeline import create_pipeline
from irl_inr.saved_models import restore_encoder, restore_scan_head

COUNT, SIZE, CLASSES = 40, 24, 3
PROJECT_ROOT = Path(__file__).resolve().parents[3]



def tiny(directory, **overrides) -> dict:
    parameters = {
        "n_clusters": CLASSES, "device": "cpu", "batch_size": 16, "kmeans_n_init": 2, "exemplars": 3,
        "checkpoint_dir": str(Path(directory) / "checkpoints"), "progress": False,
        "mining": {"neighbours": 5},
        "scan": {"n_heads": 2, "max_shift_pixels": 1.0, "optimisation": {"epochs": 2, "batch_size": 16}},
        "selflabel": {"max_shift_pixels": 1.0, "threshold": 0.5, "optimisation": {"epochs": 1, "batch_size": 16}},
        "dti": {"rotation_hypotheses": 2, "train_images": 24, "init_subsample": 40, "channels": [4], "hidden": 8,
                "reassign_every": 0, "optimisation": {"epochs": 1, "batch_size": 8}},
    }
    parameters.update(overrides)
    return parameters


def shapes() -> tuple[np.ndarray, pd.DataFrame]:
    """A square, a bar and an L at random places; ids start at 100 so that no index passes for an id."""
    rng = np.random.default_rng(0)
    images = np.zeros((COUNT, SIZE, SIZE), np.float32)
    labels = np.arange(COUNT) % CLASSES
    for index, label in enumerate(labels):
        top, left = rng.integers(5, 11, size=2)
        if label == 0:
            images[index, top : top + 6, left : left + 6] = 1.0
        elif label == 1:
            images[index, top : top + 9, left : left + 2] = 1.0
        else:
            images[index, top : top + 8, left : left + 2] = 1.0
            images[index, top + 6 : top + 8, left : left + 6] = 1.0
    table = pd.DataFrame({"image_id": np.arange(COUNT) + 100, "label": labels,
                          "split": ["train"] * 30 + ["test"] * 10})
    return images, table


def codes_for(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Codes around one centre per class (distinct distances: no ties)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLASSES, 6)) * 3
    return (centres[labels] + rng.normal(size=(len(labels), 6))).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    images, table = shapes()
    poses = table.assign(predicted_rotation_radians=0.0)
    return images, table, codes_for(table["label"].to_numpy()), poses


def closed_form(images: np.ndarray, table: pd.DataFrame) -> pd.DataFrame:
    """The embedding stage's closed-form features of the shapes (two of them)."""
    return feature_table(images, table["image_id"].to_numpy(), ["radial_profile", "angular_spectrum"], 6, 32, 2)


# The methods of these assignments: METHODS with k-means on both closed-form features.
COMPARED = [*METHODS[:4], "kmeans_radial_profile", "kmeans_angular_spectrum", *METHODS[4:]]


@pytest.fixture(scope="module")
def irl_inr():
    config = IRLINRConfig.from_dict({"image_size": SIZE, "latent_dim": 4, "backbone": "small_cnn",
                                     "num_frequencies": 8, "inr_hidden": [8], "hypernetwork_hidden": [16]})
    torch.manual_seed(0)
    model = IRLINR(config)
    # Batch-norm statistics of the shapes, as training would leave them: informative codes.
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    with torch.no_grad():
        model.train().encode(torch.from_numpy(shapes()[0]).unsqueeze(1))
    return {"config": {"name": "tiny", "model": dataclasses.asdict(config), "optimisation": {}},
            "state_dict": model.state_dict()}


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    return tmp_path_factory.mktemp("clustering")


@pytest.fixture(scope="module")
def trained(data, irl_inr, directory):
    """Every node once, in pipeline order."""
    torch.set_num_threads(torch_threads_for_tests())
    images, table, codes, poses = data
    parameters = tiny(directory)
    neighbours, mining = mine_neighbours(codes, poses, parameters)
    scan, scan_history = train_scan(irl_inr, images, table, neighbours, parameters)
    selflabel, selflabel_history = train_selflabel(irl_inr, scan, images, table, parameters)
    dti, dti_history = train_dti(images, table, parameters)
    kmeans, seconds = cluster_baselines(images, table, codes, poses, neighbours, closed_form(images, table), parameters)
    assignments = assign_clusters(irl_inr, scan, selflabel, dti, images, table, kmeans, parameters)
    comparison, measures = compare_clusterings(assignments, seconds, scan, selflabel, dti, mining, parameters)
    return {"neighbours": neighbours, "mining": mining, "scan": scan, "scan_history": scan_history,
            "selflabel": selflabel, "selflabel_history": selflabel_history, "dti": dti, "dti_history": dti_history,
            "kmeans": kmeans, "seconds": seconds, "assignments": assignments, "comparison": comparison,
            "measures": measures, "parameters": parameters}


# ------------------------------------------------------------------------------ parameters


def test_yaml_defaults_are_the_dataclass_defaults():
    section = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_clustering.yml").read_text())["clustering"]
    from_yaml = ClusteringParameters.from_dict(section)
    defaults = ClusteringParameters.from_dict({})
    assert from_yaml.to_dict() == {**defaults.to_dict(), **{
        name: {**getattr(defaults, name).to_dict(), "optimisation": section[name]["optimisation"]}
        for name in ("scan", "selflabel", "dti")}}
    for name in ("scan", "selflabel", "dti"):  # the YAML optimisation blocks are the blocks' defaults
        assert from_yaml.training_config(name) == defaults.training_config(name)


def test_threads_default_to_the_section_and_give_way_to_a_block():
    defaults = ClusteringParameters.from_dict({})
    assert all(defaults.training_config(name).num_threads == 1 for name in ("scan", "selflabel", "dti"))
    two = ClusteringParameters.from_dict({"num_threads": 2, "scan": {"optimisation": {"num_threads": 1}}})
    assert two.training_config("scan").num_threads == 1 and two.training_config("selflabel").num_threads == 2
    assert ClusteringParameters.from_dict({"num_threads": None}).training_config("dti").num_threads is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"split": "valid"}, r"clustering.split = 'valid'"),
        ({"n_clusters": 1}, r"clustering.n_clusters = 1: must be at least 2"),
        ({"mining": {"neighbours": 0}}, r"clustering.mining.neighbours = 0"),
        ({"scan": {"heads": 3}}, r"clustering.scan: unknown parameter\(s\) \['heads'\]"),
        ({"scan": {"keep_head": "labels"}},
         r"clustering.scan.keep_head = 'labels': must be one of \['agreement', 'loss'\]"),
        ({"scan": {"views": "strong"}}, r"clustering.scan.views = 'strong': must be one of \['pose', 'encoder'\]"),
        ({"scan": {"optimisation": {"epochs": 0}}}, r"clustering.scan.optimisation: training.epochs = 0"),
        ({"selflabel": {"threshold": 1.5}}, r"clustering.selflabel.threshold = 1.5"),
        ({"selflabel": {"ema_decay": 1.0}}, r"clustering.selflabel.ema_decay = 1.0: must be < 1"),
        ({"selflabel": {"features_learning_rate_scale": 0}}, r"clustering.selflabel.features_learning_rate_scale = 0"),
        ({"dti": {"transformations": ["shear"]}}, r"clustering.dti.transformations"),
        ({"device": "tpu"}, r"clustering.scan.optimisation: training.device = 'tpu'"),
        ({"num_threads": 0}, r"clustering.num_threads = 0: must be at least 1"),
    ],
)
def test_bad_parameters_name_the_parameter(overrides, message):
    with pytest.raises(ValueError, match=message):
        ClusteringParameters.from_dict(overrides)


# ---------------------------------------------------------------------------------- mining


def test_mining_equals_brute_force_and_scores_the_neighbours(data, directory):
    _, table, codes, poses = data
    neighbours, mining = mine_neighbours(codes, poses, tiny(directory))
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    brute = np.argsort(-similarity, axis=1, kind="stable")[:, :5]
    assert neighbours.dtype == np.int64 and neighbours.shape == (COUNT, 5)
    np.testing.assert_array_equal(neighbours, brute)
    labels = table["label"].to_numpy()
    assert mining == {"images": COUNT, "neighbours": 5,
                      "neighbour_acc": pytest.approx(float((labels[brute] == labels[:, None]).mean()))}


def test_mining_takes_the_rows_of_the_split(data, directory):
    _, table, codes, poses = data
    neighbours, mining = mine_neighbours(codes, poses, tiny(directory, split="train"))
    assert neighbours.shape == (30, 5) and neighbours.max() < 30 and mining["images"] == 30


def test_mining_refuses_bad_inputs_by_name(data, directory):
    _, table, codes, poses = data
    with pytest.raises(ValueError, match=r"clustering.mining.neighbours = 40: must be below the number of images \(40"):
        mine_neighbours(codes, poses, tiny(directory, mining={"neighbours": 40}))
    bad = codes.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"semantic_codes holds NaN or infinite values in 1 of 40 rows \(first: row 3"):
        mine_neighbours(bad, poses, tiny(directory))
    with pytest.raises(ValueError, match=r"clustering.n_clusters = 4: the labels .* hold 3 classes \[0, 1, 2\]: set n_clusters to 3"):
        mine_neighbours(codes, poses, tiny(directory, n_clusters=4))
    few = poses.assign(split=["train"] * 38 + ["test"] * 2)
    with pytest.raises(ValueError, match=r"selects 2 images of semantic_codes, fewer than clustering.n_clusters = 3"):
        mine_neighbours(codes, few, tiny(directory, split="test", mining={"neighbours": 1}))
    with pytest.raises(ValueError, match="rerun extract_embeddings"):
        mine_neighbours(codes[:-1], poses, tiny(directory))


def test_unlabelled_images_are_mined_without_neighbour_acc(data, directory, caplog):
    _, _, codes, poses = data
    with caplog.at_level("WARNING"):
        neighbours, mining = mine_neighbours(codes, poses.assign(label=0), tiny(directory))
    assert neighbours.shape == (COUNT, 5) and mining == {"images": COUNT, "neighbours": 5}
    assert "hold one label class [0]: they are clustered into clustering.n_clusters = 3 unscored" in caplog.text


# -------------------------------------------------------------------------------- training


def test_scan_keeps_its_best_head_and_resumes_its_checkpoint(trained, data, irl_inr, directory):
    scan, history = trained["scan"], trained["scan_history"]
    config = scan["config"]
    # Two heads agree with each other equally: the lower loss decides.
    assert config["scan"]["keep_head"] == "agreement"
    assert config["head_mean_agreement"][0] == config["head_mean_agreement"][1]
    assert config["best_head"] == int(np.argmin(config["head_losses"])) and len(config["head_losses"]) == 2
    assert list(history["epoch"]) == [1, 2] and {"consistency", "entropy", "head_0", "head_1"} <= set(history)
    assert config["train_seconds"] == pytest.approx(history["seconds"].sum()) and config["images"] == COUNT
    assert len(list((directory / "checkpoints").glob("scan-*.pt"))) == 1
    images, table, _, _ = data
    again, _ = train_scan(irl_inr, images, table, trained["neighbours"], trained["parameters"])
    assert all(torch.equal(again["state_dict"][k], v) for k, v in scan["state_dict"].items())
    assert len(list((directory / "checkpoints").glob("scan-*.pt"))) == 1


def test_scan_records_how_far_its_heads_agree_and_the_rule_needs_no_retraining(trained, data, irl_inr, directory):
    scan, parameters = trained["scan"], trained["parameters"]
    config = scan["config"]
    encoder, pixels = restore_encoder(irl_inr, scan["state_dict"], "features."), images_as_tensor(data[0])
    assignments = np.stack([
        cluster_probabilities(encoder, restore_scan_head({**scan, "config": {**config, "best_head": head}}), pixels,
                              16, "cpu", config["normalise_codes"]).argmax(1)
        for head in range(config["n_heads"])
    ])  # (H, N) every head's clusters of the images, as assign_clusters reads them
    agreement = pairwise_rand_index(assignments)
    assert config["head_agreement_ari"] == pytest.approx(agreement[0, 1])
    assert config["kept_head_agreement_ari"] == pytest.approx(agreement[0, 1])
    assert config["head_mean_agreement"] == pytest.approx([agreement[0, 1]] * 2)
    images, table, _, _ = data
    by_loss, _ = train_scan(irl_inr, images, table, trained["neighbours"], {**parameters, "scan": {
        **parameters["scan"], "keep_head": "loss"}})
    assert by_loss["config"]["scan"]["keep_head"] == "loss" and by_loss["config"]["best_head"] == config["best_head"]
    assert len(list((directory / "checkpoints").glob("scan-*.pt"))) == 1  # the same training, resumed


def test_scan_on_the_encoders_views_distorts_them_as_the_encoder_was_trained(trained, data, irl_inr, directory):
    images, table, _, _ = data
    parameters = trained["parameters"]
    assert "views" not in trained["scan"]["config"]["scan"]  # pose: the settings, and checkpoints, of before
    config = {**irl_inr["config"], "model": {**irl_inr["config"]["model"], "augment_scale": 0.2, "augment_mirror": True,
                                                   "contrastive_views": 4}}
    distorting = {**irl_inr, "config": config}
    posed, _ = train_scan(distorting, images, table, trained["neighbours"], parameters)
    encoder, _ = train_scan(distorting, images, table, trained["neighbours"], {
        **parameters, "scan": {**parameters["scan"], "views": "encoder"}})
    assert encoder["config"]["scan"]["views"] == "encoder"
    assert any(not torch.equal(encoder["state_dict"][k], v) for k, v in posed["state_dict"].items())
    # The pose-only views do not read the augmentation: the first training, resumed; the
    # encoder's views are a training of their own.
    assert all(torch.equal(posed["state_dict"][k], v) for k, v in trained["scan"]["state_dict"].items())
    assert len(list((directory / "checkpoints").glob("scan-*.pt"))) == 2


def test_one_head_is_kept_without_an_agreement_to_report(data, irl_inr, tmp_path):
    images, table, codes, poses = data
    parameters = tiny(tmp_path, scan={"n_heads": 1, "optimisation": {"epochs": 1, "batch_size": 20}})
    neighbours, _ = mine_neighbours(codes, poses, parameters)
    config = train_scan(irl_inr, images, table, neighbours, parameters)[0]["config"]
    assert config["best_head"] == 0 and config["head_mean_agreement"] == [1.0]
    assert not set(HEAD_AGREEMENT) & set(config)


def test_other_neighbours_get_their_own_scan_checkpoint(data, irl_inr, tmp_path):
    images, table, codes, poses = data
    parameters = tiny(tmp_path, scan={"n_heads": 1, "optimisation": {"epochs": 1, "batch_size": 20}})
    neighbours, _ = mine_neighbours(codes, poses, parameters)
    train_scan(irl_inr, images, table, neighbours, parameters)
    train_scan(irl_inr, images, table, neighbours[:, ::-1].copy(), parameters)  # same shape, other neighbours
    assert len(list((tmp_path / "checkpoints").glob("scan-*.pt"))) == 2


def test_scan_refuses_stale_neighbours_and_too_few_images(data, irl_inr, tmp_path):
    images, table, codes, poses = data
    neighbours, _ = mine_neighbours(codes, poses, tiny(tmp_path))
    with pytest.raises(ValueError, match=r"scan_neighbours .* the 30 images of clustering.split = 'train'"):
        train_scan(irl_inr, images, table, neighbours, tiny(tmp_path, split="train"))
    few = table.assign(split=["train"] * 38 + ["test"] * 2)
    with pytest.raises(ValueError, match=r"selects 2 images of the domain, fewer than clustering.n_clusters = 3"):
        train_scan(irl_inr, images, few, neighbours[:2], tiny(tmp_path, split="test"))


def test_selflabel_starts_from_the_scan_head_and_records_its_clusters(trained):
    selflabel, history = trained["selflabel"], trained["selflabel_history"]
    config = selflabel["config"]
    assert config["scan_head"] == trained["scan"]["config"]["best_head"]
    assert sum(config["cluster_sizes"]) == COUNT and len(config["cluster_sizes"]) == CLASSES
    assert config["empty_clusters"] == sum(size == 0 for size in config["cluster_sizes"])
    assert {"total", "confident_share"} <= set(history) and list(history["epoch"]) == [1]


def test_selflabel_refuses_a_scan_model_of_another_irl_inr(trained, data, directory):
    images, table, _, _ = data
    torch.manual_seed(1)
    other = IRLINR(IRLINRConfig.from_dict(trained["scan"]["config"]["irl_inr"]["model"]))
    irl_inr_model = {"config": trained["scan"]["config"]["irl_inr"], "state_dict": other.state_dict()}
    with pytest.raises(ValueError, match="scan_model was trained on another irl_inr_model"):
        train_selflabel(irl_inr_model, trained["scan"], images, table, tiny(directory))


def test_models_of_other_images_are_refused(trained, data, irl_inr, directory):
    images, table, _, _ = data
    with pytest.raises(ValueError, match=r"scan_model was trained on other images than the 30 of clustering.split"):
        train_selflabel(irl_inr, trained["scan"], images, table, tiny(directory, split="train"))
    stale = {**trained["dti"], "config": {**trained["dti"]["config"], "images_digest": "0" * 12}}
    with pytest.raises(ValueError, match="dti_model was trained on other images"):
        assign_clusters(irl_inr, trained["scan"], trained["selflabel"], stale, images, table, trained["kmeans"],
                        trained["parameters"])


def test_a_collapsed_selflabel_step_is_reported(trained, data, irl_inr, tmp_path, caplog):
    """A SCAN head that is unsure of cluster 2 (its bias lowered) and an eager, unbalanced
    self-labelling step of the head alone (the rig is tuned on a frozen encoder): cluster 2
    loses all its members, which is logged as a warning and reported as
    selflabel.empty_clusters."""
    images, table, _, _ = data
    # Linear heads on raw codes with fresh poses: a head whose logits scale with the codes,
    # where lowering one bias leaves that cluster some members but no confident one.
    linear = tiny(tmp_path, normalise_codes=False,
                  scan={"n_heads": 2, "max_shift_pixels": 1.0, "head_hidden": 0, "cached_views": 0,
                        "optimisation": {"epochs": 2, "batch_size": 16, "learning_rate": 1e-2}})
    scan, _ = train_scan(irl_inr, images, table, trained["neighbours"], linear)
    rigged = {"config": dict(scan["config"]), "state_dict": {k: v.clone() for k, v in scan["state_dict"].items()}}
    rigged["state_dict"]["heads.bias"][rigged["config"]["best_head"], 2] -= 0.5
    parameters = tiny(tmp_path, selflabel={"train_features": False, "threshold": 0.6, "class_balance": False,
                                           "max_shift_pixels": 1.0,
                                           "contrast": 0.2, "noise_std": 0.05, "cutout_size": 0.25,
                                           "optimisation": {"epochs": 3, "batch_size": 16, "learning_rate": 0.1}})
    with caplog.at_level(logging.WARNING, logger="irl_inr.pipelines.clustering.nodes"):
        selflabel, _ = train_selflabel(irl_inr, rigged, images, table, parameters)
    config = selflabel["config"]
    assert config["scan_cluster_sizes"][2] > 0 and config["cluster_sizes"][2] == 0 and config["empty_clusters"] == 1
    assert any("Self-labelling collapsed: 1 of 3 clusters have no member ([2]; [2] had members after SCAN)"
               in record.getMessage() for record in caplog.records)
    assignments = assign_clusters(irl_inr, rigged, selflabel, trained["dti"], images, table, trained["kmeans"],
                                  parameters)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="irl_inr.pipelines.clustering.comparison"):
        comparison, measures = compare_clusterings(assignments, trained["seconds"], rigged, selflabel, trained["dti"],
                                                   trained["mining"], parameters)
    assert measures["selflabel"]["empty_clusters"] == 1 and measures["scan"]["empty_clusters"] == 0
    assert comparison.set_index("method").loc["selflabel", "empty_clusters"] == 1
    assert any("selflabel.empty_clusters = 1" in record.getMessage() for record in caplog.records)


def test_dti_trains_on_a_downsampled_subsample(trained):
    config = trained["dti"]["config"]
    assert config["train_images"] == 24 and config["image_shape"] == [1, SIZE // 2, SIZE // 2]
    assert trained["dti"]["state_dict"]["prototypes"].shape == (CLASSES, 1, SIZE // 2, SIZE // 2)
    assert list(trained["dti_history"]["epoch"]) == [1]


# ------------------------------------------------------------------------------ comparison


def test_assignments_hold_one_column_per_method(trained, data):
    assignments = trained["assignments"]
    _, table, _, _ = data
    assert list(assignments.columns) == ["image_id", "label", *COMPARED, "selflabel_confidence"]
    assert assignments["image_id"].tolist() == table["image_id"].tolist()
    for method in COMPARED:
        assert assignments[method].between(0, CLASSES - 1).all(), method
    assert assignments["selflabel_confidence"].between(1 / CLASSES, 1).all()


@pytest.mark.learned
def test_comparison_scores_every_method_the_same_way(trained):
    comparison, measures = trained["comparison"], trained["measures"]
    assert comparison["method"].tolist() == COMPARED
    # The labels are not the digits 6 and 9: no ACC with them merged.
    assert list(comparison.columns) == ["method", "acc", "nmi", "ari", "empty_clusters", "train_seconds",
                                        "head_agreement_ari"]
    labels = trained["assignments"]["label"].to_numpy()
    for method in COMPARED:
        expected = metrics.clustering_scores(labels, trained["assignments"][method].to_numpy())
        assert measures[method]["acc"] == pytest.approx(expected["acc"]) and measures[method]["train_seconds"] >= 0
        assert "acc_69" not in measures[method]
    assert set(measures) == {*COMPARED, "mining"} and measures["mining"] == trained["mining"]
    assert measures["kmeans_z"]["acc"] == 1.0  # well separated codes
    assert measures["scan"]["train_seconds"] == trained["scan"]["config"]["train_seconds"]


def test_comparison_reports_how_far_scans_heads_agree_on_its_row_alone(trained):
    comparison, measures, config = trained["comparison"], trained["measures"], trained["scan"]["config"]
    assert {name: measures["scan"][name] for name in HEAD_AGREEMENT} == {name: config[name] for name in HEAD_AGREEMENT}
    column = comparison.set_index("method")["head_agreement_ari"]
    assert column["scan"] == config["head_agreement_ari"] and column.drop("scan").isna().all()
    assert not any(name in measures[method] for method in COMPARED if method != "scan" for name in HEAD_AGREEMENT)


def test_acc_69_is_scored_where_the_labels_are_the_digits_6_and_9(trained):
    """Named digits that include 6 and 9: the merged ACC is there, and it merges those two."""
    assignments = trained["assignments"]
    named = np.array([6, 9, 3])[assignments["label"].to_numpy()]
    digits = assignments.assign(label=named, label_name=named.astype(str))
    comparison, measures = compare_clusterings(digits, trained["seconds"], trained["scan"], trained["selflabel"],
                                               trained["dti"], trained["mining"], trained["parameters"])
    assert "acc_69" in comparison.columns
    for method in COMPARED:
        labels, clusters = digits["label"].to_numpy(), digits[method].to_numpy()
        assert measures[method]["acc_69"] == pytest.approx(metrics.merged_class_accuracy(labels, clusters, (6, 9)))


def test_baselines_refuse_codes_of_other_images(data, directory, trained):
    images, table, codes, poses = data
    shuffled = poses.assign(image_id=poses["image_id"].to_numpy()[::-1])
    with pytest.raises(ValueError, match="semantic_codes does not hold the images of clustering.split = 'all'"):
        cluster_baselines(images, table, codes, shuffled, trained["neighbours"], closed_form(images, table),
                          tiny(directory))


def test_baselines_refuse_neighbours_or_features_of_other_images(data, directory, trained):
    images, table, codes, poses = data
    features = closed_form(images, table)
    with pytest.raises(ValueError, match="scan_neighbours must be .* rerun mine_neighbours"):
        cluster_baselines(images, table, codes, poses, trained["neighbours"][:-1], features, tiny(directory))
    with pytest.raises(ValueError, match="closed_form_features does not hold the embedded images"):
        cluster_baselines(images, table, codes, poses, trained["neighbours"], features.iloc[::-1], tiny(directory))


def test_kmeans_on_a_closed_form_feature_is_kmeans_on_its_standardised_columns(data, trained):
    images, table, _, _ = data
    features = closed_form(images, table)
    radial = features[[column for column in features.columns if column.startswith("radial_profile_")]].to_numpy()
    scaled = (radial - radial.mean(axis=0)) / np.where(radial.std(axis=0) > 0, radial.std(axis=0), 1)
    expected = baselines.kmeans(scaled.astype(np.float32), CLASSES, 2, 0)
    assert np.array_equal(trained["kmeans"]["kmeans_radial_profile"].to_numpy(), expected)


def test_unlabelled_images_are_compared_without_the_scores_that_need_labels(trained, caplog):
    assignments = trained["assignments"].assign(label=0)
    mining = {"images": COUNT, "neighbours": 5}
    with caplog.at_level("WARNING"):
        table, measures = compare_clusterings(assignments, trained["seconds"], trained["scan"], trained["selflabel"],
                                              trained["dti"], mining, trained["parameters"])
    for method in COMPARED:
        agreement = HEAD_AGREEMENT if method == "scan" else ()  # the heads agree or not without labels
        assert set(measures[method]) == {"empty_clusters", "train_seconds", *agreement}, method
    assert measures["mining"] == mining and table[["acc", "nmi", "ari"]].isna().all().all()
    assert "one label class: acc, nmi, ari and acc_69 are skipped" in caplog.text


# --------------------------------------------------------------------------------- figures


def test_figures(trained, data):
    _, _, _, poses = data
    images = shapes()[0]
    parameters = trained["parameters"]
    figures = [
        plot_confusion_matrix(trained["assignments"], parameters),
        plot_cluster_exemplars(trained["assignments"], images, poses, parameters),
        plot_dti_prototypes(trained["dti"], trained["assignments"]),
    ]
    assert all(isinstance(figure, Figure) for figure in figures)
    assert len(figures[1].axes) == CLASSES * 3 and len(figures[2].axes) == CLASSES
    for figure in figures:
        plt.close(figure)


def test_figures_show_colour_images_in_rgb(trained, data):
    """Canonical images and DTI prototypes of three channels are drawn as RGB images."""
    _, _, _, poses = data
    tint = np.array([1.0, 0.6, 0.2], dtype=np.float32)[None, :, None, None]
    canonical = shapes()[0][:, None] * tint  # (N, 3, S, S)
    dti = trained["dti"]
    colour_prototypes = dti["state_dict"]["prototypes"] * torch.from_numpy(tint)  # (K, 3, h, w)
    colour_dti = {**dti, "state_dict": {**dti["state_dict"], "prototypes": colour_prototypes}}
    exemplars = plot_cluster_exemplars(trained["assignments"], canonical, poses, trained["parameters"])
    prototypes = plot_dti_prototypes(colour_dti, trained["assignments"])
    for figure in (exemplars, prototypes):
        shapes_drawn = {axis.images[0].get_array().shape for axis in figure.axes if axis.images}
        assert len(shapes_drawn) == 1 and next(iter(shapes_drawn))[-1] == 3
        plt.close(figure)


def test_figures_name_the_classes_where_the_table_has_label_names(trained, data):
    _, _, _, poses = data
    names = {label: f"type-{label}" for label in range(CLASSES)}
    named = trained["assignments"].assign(label_name=trained["assignments"]["label"].map(names))
    parameters = trained["parameters"]
    confusion = plot_confusion_matrix(named, parameters)
    exemplars = plot_cluster_exemplars(named, shapes()[0], poses, parameters)
    prototypes = plot_dti_prototypes(trained["dti"], named)
    assert {tick.get_text() for tick in confusion.axes[0].get_yticklabels()} == set(names.values())
    titles = [text for figure in (exemplars, prototypes) for axis in figure.axes
              for text in (axis.get_title(), axis.get_ylabel()) if "mostly" in text]
    assert titles and all(any(name in title for name in names.values()) for title in titles)
    for figure in (confusion, exemplars, prototypes):
        plt.close(figure)


def test_pipeline_names_its_nodes_and_datasets():
    pipeline = create_pipeline()
    assert {node.name for node in pipeline.nodes} == {
        "mine_neighbours", "train_scan", "train_selflabel", "train_dti", "cluster_baselines", "assign_clusters",
        "compare_clusterings", "plot_confusion_matrix", "plot_cluster_exemplars", "plot_dti_prototypes",
    }
    assert {"scan_neighbours", "mining_metrics", "scan_model", "scan_history", "selflabel_model", "selflabel_history",
            "dti_model", "cluster_assignments", "clustering_comparison", "clustering_metrics",
            "confusion_matrix_figure", "cluster_exemplars_figure", "dti_prototypes_figure"} <= pipeline.all_outputs()
    assert pipeline.inputs() == {"semantic_codes", "predicted_poses", "canonical_images", "irl_inr_model",
                                 "images", "image_table", "closed_form_features", "params:clustering"}
