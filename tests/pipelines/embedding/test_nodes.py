import math

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from irl_inr.inference import encode_in_batches, images_as_tensor, render_in_batches
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.metrics.readout import linear_probe_accuracy
from irl_inr.pipelines.embedding.nodes import (
    compute_closed_form_features,
    extract_embeddings,
    measure_embeddings,
    plot_reconstructions,
    render_images,
)
from irl_inr.pipelines.embedding.pipeline import create_pipeline
from irl_inr.saved_models import restore_irl_inr

SMALL = {"invariance_images": 20, "invariance_poses": 2, "neighbours": 3,
         "figure_count": 4, "device": "cpu", "max_shift_pixels": 1.0,
         "closed_form_features": ["radial_profile", "angular_spectrum"], "polar_rings": 6, "polar_angles": 32,
         "angular_frequencies": 2}


@pytest.fixture(scope="module")
def irl_inr_model():
    config = IRLINRConfig.from_dict({"image_size": 24, "latent_dim": 4, "backbone": "small_cnn", "num_frequencies": 8,
                                     "inr_hidden": [8], "hypernetwork_hidden": [16]})
    torch.manual_seed(0)
    model = IRLINR(config)
    import dataclasses

    return {"config": {"name": "tiny", "model": dataclasses.asdict(config), "optimisation": {}},
            "state_dict": model.state_dict()}


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    images = np.zeros((30, 24, 24), np.float32)
    labels = np.arange(30) % 2
    for index, label in enumerate(labels):
        top, left = rng.integers(6, 12, size=2)
        if label:
            images[index, top : top + 8, left : left + 2] = 1.0
        else:
            images[index, top : top + 5, left : left + 5] = 1.0
    table = pd.DataFrame({"image_id": range(30), "label": labels, "split": ["train"] * 20 + ["test"] * 10,
                          "rotation_radians": rng.uniform(0, 2 * math.pi, 30)})
    return images, table


def closed_form(images, table, parameters):
    return compute_closed_form_features(images, table, parameters)


def measure(irl_inr_model, images, table, codes, poses, reconstructions, parameters):
    """The stage's measures, its closed-form features computed first as the pipeline does."""
    features = closed_form(images, table, parameters)
    return measure_embeddings(irl_inr_model, images, table, codes, poses, reconstructions, features, parameters)


def embed(irl_inr_model, images, table, parameters):
    """Both nodes of the stage's first half: codes, poses, reconstructions, canonical images."""
    codes, poses = extract_embeddings(irl_inr_model, images, table, parameters)
    return (codes, poses, *render_images(irl_inr_model, codes, poses, parameters))


def test_extract_shapes_and_pose_columns(irl_inr_model, data):
    images, table = data
    codes, poses, reconstructions, canonical = embed(irl_inr_model, images, table, SMALL)
    assert codes.shape == (30, 4) and codes.dtype == np.float32
    assert reconstructions.shape == canonical.shape == (30, 24, 24)
    assert reconstructions.dtype == canonical.dtype == np.float32
    assert {"predicted_rotation_radians", "predicted_shift_x_pixels", "predicted_shift_y_pixels", "label"} <= set(poses)
    assert poses["predicted_rotation_radians"].between(0, 2 * math.pi).all()


def test_extract_gives_codes_and_poses_only(irl_inr_model, data):
    outputs = extract_embeddings(irl_inr_model, *data, SMALL)
    assert len(outputs) == 2
    assert isinstance(outputs[0], np.ndarray) and isinstance(outputs[1], pd.DataFrame)


def test_the_fast_encoder_gives_the_same_codes_up_to_rounding(irl_inr_model, data):
    exact_codes, exact_poses = extract_embeddings(irl_inr_model, *data, SMALL)
    codes, poses = extract_embeddings(irl_inr_model, *data, {**SMALL, "fast_encoder": True})
    np.testing.assert_allclose(codes, exact_codes, rtol=1e-5, atol=1e-5)
    columns = ["predicted_shift_x_pixels", "predicted_shift_y_pixels"]
    np.testing.assert_allclose(poses[columns], exact_poses[columns], atol=1e-4)


def test_renders_are_those_at_the_encoders_own_pose(irl_inr_model, data):
    """What extract_embeddings rendered before the split into two nodes: the INR at the
    encoder's pose (not read back from the pose table) and at pose 0."""
    images, table = data
    model = restore_irl_inr(irl_inr_model)
    codes, rotations, translations = encode_in_batches(model, images_as_tensor(images), 8, torch.device("cpu"))
    before_reconstructions = render_in_batches(model, codes, rotations, translations, 24, 8, "cpu")
    before_canonical = render_in_batches(model, codes, torch.zeros(30), torch.zeros(30, 2), 24, 8, "cpu")
    _, _, reconstructions, canonical = embed(irl_inr_model, images, table, {**SMALL, "batch_size": 8})
    np.testing.assert_array_equal(canonical, before_canonical)
    np.testing.assert_allclose(reconstructions, before_reconstructions, rtol=0, atol=1e-5)


def test_render_refuses_codes_and_poses_of_different_lengths(irl_inr_model, data):
    codes, poses = extract_embeddings(irl_inr_model, *data, SMALL)
    with pytest.raises(ValueError, match="30 semantic codes but 29 pose rows: rerun extract_embeddings"):
        render_images(irl_inr_model, codes, poses.iloc[:29], SMALL)


def test_the_stage_renders_in_its_own_node():
    pipeline = create_pipeline()
    assert [node.name for node in pipeline.nodes] == [
        "compute_closed_form_features", "extract_embeddings", "render_images", "measure_embeddings",
        "plot_reconstructions",
    ]
    outputs = {node.name: set(node.outputs) for node in pipeline.nodes}
    assert outputs["extract_embeddings"] == {"semantic_codes", "predicted_poses"}
    assert outputs["render_images"] == {"reconstructions", "canonical_images"}
    codes_only = pipeline.to_nodes("extract_embeddings")
    assert [node.name for node in codes_only.nodes] == ["extract_embeddings"]


def test_extract_only_the_chosen_split(irl_inr_model, data):
    codes, poses = extract_embeddings(irl_inr_model, *data, {**SMALL, "split": "test"})
    assert len(codes) == 10 and (poses["split"] == "test").all()


def test_measures_are_numbers_in_range(irl_inr_model, data):
    images, table = data
    codes, poses, reconstructions, _ = embed(irl_inr_model, images, table, SMALL)
    measures = measure(irl_inr_model, images, table, codes, poses, reconstructions, SMALL)
    for key in ("recon_mse", "invariance_cos", "between_cos", "pose_retrieval_top1", "neighbour_acc",
                "neighbour_acc_canonical_pixels", "pose_error_deg", "pose_error_vs_truth_deg"):
        assert math.isfinite(measures[key]), key
    assert 0 <= measures["neighbour_acc"] <= 1 and 0 <= measures["pose_error_deg"] <= 180
    assert "neighbour_acc_69" not in measures  # the labels are not the digits 6 and 9
    assert measures["recon_mse"] == pytest.approx(float(np.mean((reconstructions - images) ** 2)))
    for key in ("neighbour_acc_radial_profile", "neighbour_acc_angular_spectrum", "linear_probe",
                "linear_probe_radial_profile", "linear_probe_angular_spectrum"):
        assert 0 <= measures[key] <= 1, key
    assert "linear_probe_pixels" not in measures and "linear_probe_canonical_pixels" not in measures
    assert measures["linear_probe"] == pytest.approx(linear_probe_accuracy(codes, table["label"].to_numpy()))


def test_the_closed_form_features_are_those_of_the_embedded_images(data):
    images, table = data
    features = closed_form(images, table, {**SMALL, "split": "test"})
    assert features["image_id"].tolist() == list(range(20, 30))
    assert len(features.columns) == 1 + 6 + 6 * 3  # image_id, 6 rings, 6 rings x frequencies 0..2
    assert list(closed_form(images, table, {**SMALL, "closed_form_features": []}).columns) == ["image_id"]


def test_closed_form_features_of_other_images_are_refused(irl_inr_model, data):
    images, table = data
    codes, poses, reconstructions, _ = embed(irl_inr_model, images, table, SMALL)
    other = closed_form(images, table, SMALL).iloc[::-1]
    with pytest.raises(ValueError, match="closed_form_features does not hold the embedded images"):
        measure_embeddings(irl_inr_model, images, table, codes, poses, reconstructions, other, SMALL)


def test_classes_too_small_for_the_probe_folds_are_left_out(irl_inr_model, data, caplog):
    images, table = data
    table = table.assign(label=np.where(np.arange(len(table)) < 3, 2, table["label"]))  # class 2: 3 images
    codes, poses, reconstructions, _ = embed(irl_inr_model, images, table, SMALL)
    with caplog.at_level("WARNING"):
        measures = measure(irl_inr_model, images, table, codes, poses, reconstructions, SMALL)
    kept = table["label"].to_numpy() != 2
    assert measures["linear_probe"] == pytest.approx(linear_probe_accuracy(codes[kept], table["label"].to_numpy()[kept]))
    assert "label class(es) [2] have fewer than embedding.linear_probe_folds = 5 members" in caplog.text


def test_six_and_nine_as_one_class(irl_inr_model, data):
    images, table = data
    # The fixture's first shape labelled 6 and 9 in turn, its second 1: the codes tell the
    # shapes apart but not the labels 6 and 9, which then agree only as one class.
    six_or_nine = np.where(np.arange(len(table)) % 4 == 0, 6, 9)
    digits = table.assign(label=np.where(table["label"] == 0, six_or_nine, 1), label_name=lambda t: t["label"].astype(str))
    codes, poses, reconstructions, _ = embed(irl_inr_model, images, digits, SMALL)
    measures = measure(irl_inr_model, images, digits, codes, poses, reconstructions, SMALL)
    assert measures["neighbour_acc"] < 0.9 and measures["neighbour_acc_69"] == 1
    views = digits.assign(label_name=lambda t: "view " + t["label"].astype(str))  # labels 6 and 9, not digits
    measures = measure(irl_inr_model, images, views, codes, poses, reconstructions, SMALL)
    assert "neighbour_acc_69" not in measures


def test_nan_codes_and_mismatched_lengths_are_refused(irl_inr_model, data):
    images, table = data
    codes, poses, reconstructions, _ = embed(irl_inr_model, images, table, SMALL)
    bad = codes.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        measure(irl_inr_model, images, table, bad, poses, reconstructions, SMALL)
    with pytest.raises(ValueError, match="rerun extract_embeddings"):
        measure(irl_inr_model, images, table, codes, poses, reconstructions, {**SMALL, "split": "test"})


def test_more_neighbours_than_images_names_the_parameter(irl_inr_model, data):
    images, table = data
    codes, poses, reconstructions, _ = embed(irl_inr_model, images, table, {**SMALL, "split": "test"})
    with pytest.raises(ValueError) as error:
        measure(irl_inr_model, images, table, codes, poses, reconstructions, {**SMALL, "split": "test", "neighbours": 20})
    assert str(error.value) == (
        "embedding.neighbours = 20: must be below the number of images (10) of embedding.split = 'test'; "
        "set it to at most 9"
    )


def test_unlabelled_images_skip_the_measures_that_need_labels_or_angles(irl_inr_model, data, caplog):
    images, table = data
    table = table.assign(label=0, rotation_radians=np.nan)
    codes, poses, reconstructions, _ = embed(irl_inr_model, images, table, SMALL)
    with caplog.at_level("WARNING"):
        measures = measure(irl_inr_model, images, table, codes, poses, reconstructions, {**SMALL, "neighbours": 40})
    assert not {"neighbour_acc", "neighbour_acc_69", "neighbour_acc_canonical_pixels", "neighbour_acc_pixels",
                "neighbour_acc_radial_profile", "linear_probe", "pose_error_vs_truth_deg"} & set(measures)
    assert all(math.isfinite(value) for value in measures.values())
    assert "hold one label class: the neighbour_acc measures need labels and are skipped" in caplog.text
    assert "pose_error_vs_truth_deg is skipped" in caplog.text


def test_figure(irl_inr_model, data):
    images, table = data
    _, _, reconstructions, canonical = embed(irl_inr_model, images, table, SMALL)
    figure = plot_reconstructions(images, table, reconstructions, canonical, SMALL)
    assert isinstance(figure, Figure) and len(figure.axes) == 12


# --------------------------------------------------------------------------- colour


@pytest.fixture(scope="module")
def colour_model():
    """The tiny model of ``irl_inr_model`` for images of three channels."""
    import dataclasses

    config = IRLINRConfig.from_dict({"image_size": 24, "latent_dim": 4, "backbone": "small_cnn", "num_frequencies": 8,
                                     "inr_hidden": [8], "hypernetwork_hidden": [16], "channels": 3})
    torch.manual_seed(0)
    return {"config": {"name": "tiny", "model": dataclasses.asdict(config), "optimisation": {}},
            "state_dict": IRLINR(config).state_dict()}


def tinted(images: np.ndarray) -> np.ndarray:
    """Grey images (N, S, S) as colour images (N, 3, S, S): each label in its own tint."""
    tints = np.array([[1.0, 0.6, 0.2], [0.2, 0.5, 1.0]], dtype=np.float32)
    return images[:, None] * tints[np.arange(len(images)) % 2][:, :, None, None]


def test_colour_images_are_embedded_rendered_measured_and_drawn_in_rgb(colour_model, data):
    images, table = data
    colour = tinted(images)
    codes, poses, reconstructions, canonical = embed(colour_model, colour, table, SMALL)
    assert codes.shape == (30, 4) and np.isfinite(codes).all()
    assert reconstructions.shape == canonical.shape == (30, 3, 24, 24)
    measures = measure(colour_model, colour, table, codes, poses, reconstructions, SMALL)
    np.testing.assert_allclose(measures["recon_mse"], np.mean((reconstructions - colour) ** 2), rtol=1e-6)
    features = closed_form(colour, table, SMALL)
    assert len(features.filter(like="radial_profile").columns) == 3 * 6  # every channel's rings
    fast_codes, _ = extract_embeddings(colour_model, colour, table, {**SMALL, "fast_encoder": True})
    np.testing.assert_allclose(fast_codes, codes, rtol=1e-4, atol=1e-4)
    figure = plot_reconstructions(colour, table, reconstructions, canonical, SMALL)
    assert {axis.images[0].get_array().shape for axis in figure.axes} == {(24, 24, 3)}


def test_images_of_other_channels_than_the_models_are_refused(irl_inr_model, colour_model, data):
    images, table = data
    with pytest.raises(ValueError, match=r"the encoder takes images \(B, 1, H, W\)"):
        extract_embeddings(irl_inr_model, tinted(images), table, SMALL)
    with pytest.raises(ValueError, match=r"the encoder takes images \(B, 3, H, W\)"):
        extract_embeddings(colour_model, images, table, SMALL)
