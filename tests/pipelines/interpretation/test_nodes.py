"""Interpretation nodes on tiny synthetic codes: the flow trains through the project's
loop and inverts exactly, its measures and traversal figure, the isometry node, the
parameter sections, and refused inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.pipelines.interpretation.isometry import measure_isometry
from irl_inr.pipelines.interpretation.nodes import (
    measure_interpretation,
    measure_traversals,
    plot_traversals,
    train_interpretation,
)
from irl_inr.pipelines.interpretation.parameters import VALIDATORS
from irl_inr.pipelines.interpretation.pipeline import create_pipeline

DIM, CLASSES = 4, 3


@pytest.fixture(scope="module")
def irl_inr_model():
    config = IRLINRConfig(image_size=12, latent_dim=DIM, num_frequencies=8, inr_hidden=(8,), hypernetwork_hidden=(16,))
    torch.manual_seed(0)
    return {"config": {"name": "tiny", "model": dataclasses.asdict(config), "optimisation": {}},
            "state_dict": IRLINR(config).state_dict()}


@pytest.fixture(scope="module")
def codes_and_table():
    """Three well separated blobs of 4-d codes, 60 train and 30 test rows."""
    rng = np.random.default_rng(0)
    labels = np.arange(90) % CLASSES
    centres = np.array([[3.0, 0, 0, 0], [-3.0, 0, 0, 0], [0, 3.0, 0, 0]])
    codes = (centres[labels] + 0.5 * rng.standard_normal((90, DIM))).astype(np.float32)
    table = pd.DataFrame({
        "image_id": np.arange(90, dtype=np.int64), "label": labels.astype(np.int64),
        "label_name": [f"class {label}" for label in labels], "split": ["train"] * 60 + ["test"] * 30,
    })
    return codes, table


def parameters(tmp_path, **overrides) -> dict:
    return {"class_dims": 2, "blocks": 3, "hidden": 16, "device": "cpu", "checkpoint_dir": str(tmp_path),
            "optimisation": {"epochs": 100, "batch_size": 30, "learning_rate": 1e-2}, "traversal_steps": 5,
            "traversal_rows": 2, **overrides}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, codes_and_table):
    codes, table = codes_and_table
    options = parameters(tmp_path_factory.mktemp("checkpoints"))
    return train_interpretation(codes, table, options), options


@pytest.mark.learned
def test_the_supervised_flow_inverts_and_its_class_factor_finds_the_blobs(trained, codes_and_table):
    interpretation_model, _ = trained
    config = interpretation_model["config"]
    assert config["num_classes"] == CLASSES and config["label_names"][2] == "class 2"
    metrics = measure_interpretation(interpretation_model, *codes_and_table)
    assert set(metrics) == {"inverse_max_abs_error", "train_seconds", "nll_train", "nll_test",
                            "class_factor_accuracy_train", "class_factor_accuracy_test"}
    assert metrics["inverse_max_abs_error"] < 1e-5
    assert metrics["class_factor_accuracy_test"] > 0.8  # chance: 1/3
    assert all(np.isfinite(value) for value in metrics.values())


def test_training_resumes_its_finished_checkpoint_with_the_same_weights(trained, codes_and_table):
    interpretation_model, options = trained
    again = train_interpretation(*codes_and_table, options)
    for name, tensor in interpretation_model["state_dict"].items():
        assert torch.equal(tensor, again["state_dict"][name]), name


def test_the_unsupervised_flow_has_no_class_measures(tmp_path, irl_inr_model, codes_and_table):
    options = parameters(tmp_path, supervised=False, optimisation={"epochs": 5, "batch_size": 30})
    interpretation_model = train_interpretation(*codes_and_table, options)
    metrics = measure_interpretation(interpretation_model, *codes_and_table)
    assert "class_factor_accuracy_test" not in metrics and metrics["inverse_max_abs_error"] < 1e-5
    figure = plot_traversals(interpretation_model, irl_inr_model, *codes_and_table, options)
    assert len(figure.axes) == 2 * 5  # two coordinates of u, five steps each
    plt.close(figure)


def test_traversal_figure_has_a_class_row_and_residual_rows(trained, irl_inr_model, codes_and_table):
    interpretation_model, options = trained
    figure = plot_traversals(interpretation_model, irl_inr_model, *codes_and_table, options)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 3 * 5  # class row + u[2], u[3], max(3 classes, 5 steps) columns
    assert [axis.get_title() for axis in figure.axes[:3]] == ["class 0", "class 1", "class 2"]
    assert len(figure.axes[0].images) == 1 and len(figure.axes[4].images) == 0  # 3 classes in a 5-wide row
    plt.close(figure)
    with pytest.raises(ValueError, match="traversal_index = 30"):
        plot_traversals(interpretation_model, irl_inr_model, *codes_and_table, {**options, "traversal_index": 30})


def test_a_colour_decoder_is_traversed_in_rgb_and_measured(trained, irl_inr_model, codes_and_table):
    interpretation_model, options = trained
    config = IRLINRConfig(**{**irl_inr_model["config"]["model"], "channels": 3})
    torch.manual_seed(0)
    colour = {"config": {"name": "tiny", "model": dataclasses.asdict(config), "optimisation": {}},
              "state_dict": IRLINR(config).state_dict()}
    figure = plot_traversals(interpretation_model, colour, *codes_and_table, options)
    assert {axis.images[0].get_array().shape for axis in figure.axes if axis.images} == {(12, 12, 3)}
    plt.close(figure)
    measures = measure_traversals(interpretation_model, colour, *codes_and_table, options)
    assert measures.keys() >= {"residual_row_rms", "class_row_rms"} and all(np.isfinite(list(measures.values())))
    isometry = measure_isometry(colour, codes_and_table[0], {"sample_size": 3, "batch_size": 2, "device": "cpu"})
    assert isometry["mean_condition_number"] >= 1


def test_isometry_node_measures_a_seeded_sample(irl_inr_model, codes_and_table):
    codes, _ = codes_and_table
    options = {"sample_size": 5, "batch_size": 2, "device": "cpu"}
    result = measure_isometry(irl_inr_model, codes, options)
    assert result["isometry_codes"] == 5 and result["rank_deficient_codes"] == 0
    assert result["mean_condition_number"] >= 1 and result["median_condition_number"] >= 1
    assert measure_isometry(irl_inr_model, codes, options) == result
    with pytest.raises(ValueError, match="latent_dim is 4"):
        measure_isometry(irl_inr_model, codes[:, :3], options)
    bad = codes.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        measure_isometry(irl_inr_model, bad, options)


def test_mismatched_rows_nan_codes_and_missing_columns_are_refused(tmp_path, codes_and_table):
    codes, table = codes_and_table
    options = parameters(tmp_path)
    with pytest.raises(ValueError, match="90 rows but image_table has 89"):
        train_interpretation(codes, table.iloc[:89], options)
    bad = codes.copy()
    bad[7, 0] = np.inf
    with pytest.raises(ValueError, match=r"rows \[7\]"):
        train_interpretation(bad, table, options)
    with pytest.raises(ValueError, match="split"):
        train_interpretation(codes, table.drop(columns="split"), options)
    with pytest.raises(ValueError, match="interpretation.supervised = True: needs at least 2 label classes among the"):
        train_interpretation(codes, table.assign(label=0), parameters(tmp_path, supervised=True))


def test_supervised_auto_follows_whether_the_train_rows_hold_labels(tmp_path, codes_and_table):
    """The default (auto): the plain flow on unlabelled codes (one label class, as an
    unlabelled particle stack has), the class factor where labels exist."""
    codes, table = codes_and_table
    short = {"epochs": 2, "batch_size": 30}
    plain = train_interpretation(codes, table.assign(label=0), parameters(tmp_path / "plain", optimisation=short))
    assert plain["config"]["num_classes"] is None and plain["config"]["class_dims"] == 0
    labelled = train_interpretation(codes, table, parameters(tmp_path / "labelled", optimisation=short))
    assert labelled["config"]["num_classes"] == table["label"].nunique() > 1 and labelled["config"]["class_dims"] == 2


@pytest.mark.parametrize(
    "section, values, message",
    [
        ("interpretation", {"blocks": 0}, "interpretation.blocks = 0: must be at least 1"),
        ("interpretation", {"supervised": "yes"}, "interpretation.supervised"),
        ("interpretation", {"traversal_extent": -1.0}, "interpretation.traversal_extent"),
        ("interpretation", {"optimisation": {"epochs": 0}}, "interpretation.optimisation: training.epochs"),
        ("interpretation", {"flows": 3}, "unknown parameter"),
        ("isometry", {"sample_size": 0}, "isometry.sample_size = 0"),
    ],
)
def test_bad_parameters_name_the_parameter(section, values, message):
    with pytest.raises(ValueError, match=message):
        VALIDATORS[section](values)


def test_the_shipped_sections_are_valid_and_the_pipeline_is_tagged():
    from omegaconf import OmegaConf

    shipped = OmegaConf.to_container(OmegaConf.load("conf/base/parameters_interpretation.yml"))
    for section, validate in VALIDATORS.items():
        validate(shipped[section])
    pipeline = create_pipeline()
    assert {node.name for node in pipeline.nodes} == {
        "train_interpretation", "measure_interpretation", "plot_traversals", "measure_traversals"
    }
    assert all(node.tags == {"interpretation"} for node in pipeline.nodes)
    assert pipeline.inputs() == {"irl_inr_model", "semantic_codes", "image_table", "params:interpretation"}
