import numpy as np
import pandas as pd
import pytest
import torch

from irl_inr.pipelines.training.nodes import check_training_checkpoint, train_irl_inr
from irl_inr.saved_models import restore_irl_inr
from irl_inr.training import CheckpointError

TINY = {
    "model": {"image_size": 24, "latent_dim": 4, "backbone": "small_cnn", "num_frequencies": 8,
              "inr_hidden": [8], "hypernetwork_hidden": [16], "max_shift_pixels": 1.0},
    "optimisation": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "checkpoint_every": 2},
}


def tiny_parameters(tmp_path, **overrides):
    return {"config": "tiny", "checkpoint_dir": str(tmp_path / "checkpoints"), "progress": False,
            "configurations": {"tiny": TINY}, **overrides}


@pytest.fixture
def images_and_table():
    rng = np.random.default_rng(0)
    images = np.zeros((32, 24, 24), np.float32)
    for index in range(32):
        top, left = rng.integers(4, 14, size=2)
        images[index, top : top + 6, left : left + 3] = 1.0
    table = pd.DataFrame({"image_id": range(32), "label": np.arange(32) % 2, "split": ["train"] * 24 + ["test"] * 8})
    return images, table


def test_trains_saves_config_and_resumes_from_its_checkpoint(tmp_path, images_and_table):
    images, table = images_and_table
    irl_inr_model, history = train_irl_inr(images, table, tiny_parameters(tmp_path))
    assert list(history["epoch"]) == [1, 2] and {"reconstruction", "consistency", "symmetry", "total"} <= set(history)
    assert irl_inr_model["config"]["name"] == "tiny" and irl_inr_model["config"]["model"]["latent_dim"] == 4
    model = restore_irl_inr(irl_inr_model)
    assert model.encode(torch.from_numpy(images[:3]).unsqueeze(1)).semantic_code.shape == (3, 4)
    checkpoints = list((tmp_path / "checkpoints").glob("irl_inr-tiny-*.pt"))
    assert len(checkpoints) == 1
    again, _ = train_irl_inr(images, table, tiny_parameters(tmp_path))  # finished checkpoint: no retraining
    assert all(torch.equal(again["state_dict"][k], irl_inr_model["state_dict"][k]) for k in irl_inr_model["state_dict"])


def test_code_rotations_keep_the_checkpoint_and_reach_the_saved_model(tmp_path, images_and_table):
    """How a trained model reads images is not what training optimises: changing
    code_rotations_degrees resumes the finished checkpoint (the same weights) and is saved
    with the model, whose codes then change."""
    images, table = images_and_table
    plain, _ = train_irl_inr(images, table, tiny_parameters(tmp_path))
    turned = {**TINY, "model": {**TINY["model"], "code_rotations_degrees": [-20, 0, 20]}}
    averaged, _ = train_irl_inr(images, table, tiny_parameters(tmp_path, configurations={"tiny": turned}))
    assert len(list((tmp_path / "checkpoints").glob("irl_inr-tiny-*.pt"))) == 1
    assert all(torch.equal(averaged["state_dict"][k], plain["state_dict"][k]) for k in plain["state_dict"])
    assert averaged["config"]["model"]["code_rotations_degrees"] == (-20.0, 0.0, 20.0)
    batch = torch.from_numpy(images[:4]).unsqueeze(1)
    with torch.no_grad():
        codes = [restore_irl_inr(saved).encode(batch).semantic_code for saved in (plain, averaged)]
    assert not torch.allclose(codes[0], codes[1], atol=1e-4)


def test_a_saved_model_from_before_code_rotations_reads_images_in_one_pass(tmp_path, images_and_table):
    """A saved model whose config has no code_rotations_degrees (trained before it
    existed) restores and encodes as it always did: one plain pass."""
    images, table = images_and_table
    saved, _ = train_irl_inr(images, table, tiny_parameters(tmp_path))
    older = {**saved, "config": {**saved["config"], "model": dict(saved["config"]["model"])}}
    del older["config"]["model"]["code_rotations_degrees"]
    model = restore_irl_inr(older)
    batch = torch.from_numpy(images[:4]).unsqueeze(1)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(batch).semantic_code, model.encoder(batch).semantic_code)
    assert model.config.code_rotations_degrees == (0.0,)


def test_a_saved_model_from_before_backbone_layout_restores_with_the_4x4_pool(tmp_path, images_and_table):
    """A saved model whose config has no backbone_layout (trained when small_cnn always
    pooled to 4 x 4) restores with that pool, so its head's weights fit, and reads images
    as it did when it was saved."""
    images, table = images_and_table
    saved, _ = train_irl_inr(images, table, tiny_parameters(tmp_path))
    assert saved["config"]["model"]["backbone_layout"] == 4
    older = {**saved, "config": {**saved["config"], "model": dict(saved["config"]["model"])}}
    del older["config"]["model"]["backbone_layout"]
    model, same = restore_irl_inr(older), restore_irl_inr(saved)
    assert model.config.backbone_layout == 4 and model.encoder.trunk[0].in_features == 128 * 4 * 4
    batch = torch.from_numpy(images[:4]).unsqueeze(1)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(batch).semantic_code, same.encode(batch).semantic_code)


def test_other_settings_get_their_own_checkpoint(tmp_path, images_and_table):
    images, table = images_and_table
    train_irl_inr(images, table, tiny_parameters(tmp_path))
    other = {"model": TINY["model"], "optimisation": {**TINY["optimisation"], "learning_rate": 5e-4}}
    train_irl_inr(images, table, tiny_parameters(tmp_path, configurations={"tiny": other}))
    assert len(list((tmp_path / "checkpoints").glob("irl_inr-tiny-*.pt"))) == 2


def test_other_images_of_the_same_shape_train_anew_and_each_run_resumes_its_own(tmp_path, images_and_table):
    """A rerun on other images (same shape, same settings) gets its own checkpoint instead
    of meeting the first run's; going back to the first images resumes the first one."""
    images, table = images_and_table
    first, _ = train_irl_inr(images, table, tiny_parameters(tmp_path))
    other = np.ascontiguousarray(images[:, :, ::-1])
    second, _ = train_irl_inr(other, table, tiny_parameters(tmp_path))
    assert len(list((tmp_path / "checkpoints").glob("irl_inr-tiny-*.pt"))) == 2
    assert not torch.equal(first["state_dict"]["encoder.trunk.0.weight"], second["state_dict"]["encoder.trunk.0.weight"])
    again, _ = train_irl_inr(images, table, tiny_parameters(tmp_path))
    assert all(torch.equal(again["state_dict"][k], first["state_dict"][k]) for k in first["state_dict"])


def test_a_checkpoint_that_cannot_be_resumed_is_found_before_training(tmp_path, images_and_table):
    """check_training_checkpoint finds what train_irl_inr would refuse: nothing before the
    first run, nothing after it, a corrupt file at the run's checkpoint path."""
    images, table = images_and_table
    check_training_checkpoint(images, table, tiny_parameters(tmp_path))
    train_irl_inr(images, table, tiny_parameters(tmp_path))
    check_training_checkpoint(images, table, tiny_parameters(tmp_path))
    (path,) = (tmp_path / "checkpoints").glob("irl_inr-tiny-*.pt")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="set the stage's checkpoint_dir parameter to another folder"):
        check_training_checkpoint(images, table, tiny_parameters(tmp_path))
    assert path.stat().st_size == 100


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"config": "huge"}, r"training.config = 'huge': is not one of the named configurations \['tiny'\]"),
        ({"split": "validation"}, r"training.split"),
        ({"configurations": {"tiny": {**TINY, "model": {**TINY["model"], "latent_dim": 0}}}},
         r"training.configurations.tiny.model: .*latent_dim"),
        ({"configurations": {"tiny": {**TINY, "optimisation": {"epochs": 0}}}},
         r"training.configurations.tiny.optimisation: training.epochs = 0"),
        ({"configurations": {"tiny": {**TINY, "model": {**TINY["model"], "channels": 3}}}},
         r"training.configurations.tiny.model.channels: not a parameter; the channel count is read off the images"),
    ],
)
def test_bad_parameters_name_the_parameter(tmp_path, images_and_table, overrides, message):
    with pytest.raises(ValueError, match=message):
        train_irl_inr(*images_and_table, tiny_parameters(tmp_path, **overrides))


def test_image_size_mismatch_is_named(tmp_path, images_and_table):
    images, table = images_and_table
    with pytest.raises(ValueError, match=r"training.configurations.tiny.model.image_size = 24 but the images are 20x20"):
        train_irl_inr(images[:, :20, :20], table, tiny_parameters(tmp_path))


def test_colour_images_train_a_model_of_their_channel_count(tmp_path, images_and_table):
    images, table = images_and_table
    colour = np.stack([images, 0.5 * images, images[:, ::-1]], axis=1)  # (N, 3, S, S)
    irl_inr_model, _ = train_irl_inr(colour, table, tiny_parameters(tmp_path))
    assert irl_inr_model["config"]["model"]["channels"] == 3
    model = restore_irl_inr(irl_inr_model).eval()
    with torch.no_grad():
        rendered = model.decode_canonical(model.encode(torch.from_numpy(colour[:2])).semantic_code)
    assert rendered.shape == (2, 3 * 24 * 24)
    gray_model, _ = train_irl_inr(images, table, tiny_parameters(tmp_path))
    assert gray_model["config"]["model"]["channels"] == 1
