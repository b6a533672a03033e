"""Prediction on new images with a tiny IRL-INR and tiny SCAN / self-label heads trained on
30 shapes: the same clusters and poses as the clustering and embedding stages, novelty
for noise, the domains' front ends, and a Kedro run that streams its outputs."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import torch_threads_for_tests
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from PIL import Image

from irl_inr.domains.cryo_em.preprocess import preprocess_stack
from irl_inr.inference import images_as_tensor
from irl_inr.invariant_features import feature_table
from irl_inr.datasets.new_images import NewImagesDataset, RawImageBatch, StreamedNpyDataset, StreamedParquetDataset
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.pipelines.clustering.comparison import assign_clusters, cluster_baselines
from irl_inr.pipelines.clustering.nodes import train_dti, train_scan, train_selflabel
from irl_inr.pipelines.embedding.nodes import extract_embeddings, render_images
from irl_inr.domains.cryo_em.nodes import particle_front_end
from irl_inr.domains.mnist_u.augmentation import digit_front_end
from irl_inr.pipelines.predict.nodes import calibrate_novelty, predict_new_images, prepare_images
from irl_inr.pipelines.predict.parameters import PredictParameters
from irl_inr.pipelines.predict.pipeline import create_pipeline
from irl_inr.domains.wm811k.nodes import ingest_wafers, rotate_wafers, wafer_front_end
from irl_inr.domains.wm811k.front_end import encode_die_states, resize_nearest

COUNT, SIZE, CLASSES = 30, 28, 3
PROJECT_ROOT = Path(__file__).resolve().parents[3]
PREDICT = {"batch_size": 7, "device": "cpu", "novelty_quantile": 0.9}



def shapes() -> tuple[np.ndarray, pd.DataFrame]:
    """A square, a bar and an L (0/1 pixels, so a PNG holds them exactly) at random places."""
    rng = np.random.default_rng(0)
    images = np.zeros((COUNT, SIZE, SIZE), np.float32)
    labels = np.arange(COUNT) % CLASSES
    for index, label in enumerate(labels):
        top, left = rng.integers(7, 13, size=2)
        if label == 0:
            images[index, top : top + 6, left : left + 6] = 1.0
        elif label == 1:
            images[index, top : top + 9, left : left + 2] = 1.0
        else:
            images[index, top : top + 8, left : left + 2] = 1.0
            images[index, top + 6 : top + 8, left : left + 6] = 1.0
    table = pd.DataFrame({"image_id": np.arange(COUNT) + 100, "label": labels, "split": "train"})
    return images, table


def tiny_irl_inr_model(images: np.ndarray) -> dict:
    """An untrained tiny IRL-INR whose batch-norm statistics are those of the shapes (of
    one channel (N, S, S) or of C (N, C, S, S))."""
    data = images_as_tensor(images)
    config = IRLINRConfig.from_dict({"image_size": SIZE, "latent_dim": 4, "num_frequencies": 8, "inr_hidden": [8],
                                     "hypernetwork_hidden": [16], "channels": data.shape[1]})
    torch.manual_seed(0)
    model = IRLINR(config)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    with torch.no_grad():
        model.train().encode(data)
    return {"config": {"name": "tiny", "model": dataclasses.asdict(config), "optimisation": {}},
            "state_dict": model.state_dict()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The embedding and clustering stages on the shapes, as a domain's run leaves them."""
    return run_stages(*shapes(), tmp_path_factory.mktemp("checkpoints"))


def run_stages(images: np.ndarray, table: pd.DataFrame, checkpoints: Path) -> dict:
    """The embedding and clustering stages on ``images``, as a domain's run leaves them."""
    torch.set_num_threads(torch_threads_for_tests())
    irl_inr = tiny_irl_inr_model(images)
    clustering = {
        "n_clusters": CLASSES, "device": "cpu", "batch_size": 16, "kmeans_n_init": 2,
        "checkpoint_dir": str(checkpoints), "progress": False,
        "scan": {"n_heads": 2, "max_shift_pixels": 1.0, "optimisation": {"epochs": 2, "batch_size": 16}},
        "selflabel": {"max_shift_pixels": 1.0, "threshold": 0.5, "optimisation": {"epochs": 1, "batch_size": 16}},
        "dti": {"rotation_hypotheses": 2, "train_images": 24, "init_subsample": 30, "channels": [4], "hidden": 8,
                "reassign_every": 0, "optimisation": {"epochs": 1, "batch_size": 8}},
    }
    # encoded in the batches predict uses, so predict sees the calibration's very codes (another
    # batch size may round them differently in the last bit, enough to cross the threshold)
    embedding = {"device": "cpu", "batch_size": PREDICT["batch_size"]}
    codes, poses = extract_embeddings(irl_inr, images, table, embedding)
    _, canonical = render_images(irl_inr, codes, poses, embedding)
    neighbours = np.argsort(((codes[:, None] - codes[None]) ** 2).sum(-1), axis=1)[:, 1:6]
    scan, _ = train_scan(irl_inr, images, table, neighbours, clustering)
    selflabel, _ = train_selflabel(irl_inr, scan, images, table, clustering)
    dti, _ = train_dti(images, table, clustering)
    no_closed_form_features = feature_table(images, table["image_id"].to_numpy(), [], 1, 1, 0)
    kmeans, _ = cluster_baselines(images, table, codes, poses, neighbours, no_closed_form_features, clustering)
    assignments = assign_clusters(irl_inr, scan, selflabel, dti, images, table, kmeans, clustering)
    return {"images": images, "irl_inr": irl_inr, "scan": scan, "selflabel": selflabel, "codes": codes,
            "poses": poses, "canonical": canonical, "assignments": assignments,
            "reference": calibrate_novelty(codes, poses, assignments, PREDICT)}


def write_pngs(folder: Path, images: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(folder / f"{index:03d}.png")
    return folder


def predict(trained, folder, parameters=PREDICT, front_end=None):
    chunks = list(predict_new_images(
        trained["irl_inr"], trained["scan"], trained["selflabel"], trained["reference"],
        NewImagesDataset(str(folder)).load(), front_end or digit_front_end({"image_size": SIZE}), parameters,
    ))
    return chunks, pd.concat([table.data for table, _ in chunks], ignore_index=True), np.concatenate(
        [images.data for _, images in chunks])


# ------------------------------------------------------------------------- parameters


def test_yaml_defaults_are_the_dataclass_defaults():
    section = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_predict.yml").read_text())["predict"]
    assert PredictParameters.from_dict(section) == PredictParameters()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"head": "dti"}, r"predict.head = 'dti': must be one of"),
    ({"novelty_quantile": 0}, r"predict.novelty_quantile = 0: must be in \(0, 1\]"),
    ({"batch_size": 0}, r"predict.batch_size = 0"),
    ({"num_threads": 0}, r"predict.num_threads = 0"),
    ({"canonical_images": "no"}, r"predict.canonical_images = 'no': must be true or false"),
    ({"canonical_images": None}, r"predict.canonical_images = None: must be true or false"),
    ({"threshold": 3}, r"predict: unknown parameter\(s\) \['threshold'\]"),
])
def test_bad_parameters_name_the_parameter(overrides, message):
    with pytest.raises(ValueError, match=message):
        PredictParameters.from_dict(overrides)


# ------------------------------------------------------------------------- prediction


def test_predictions_are_the_clustering_and_embedding_stages_own(trained, tmp_path):
    """The same images as new PNGs get the self-label clusters of assign_clusters and the
    poses of extract_embeddings and canonical images of render_images (the same encoder, the same code)."""
    chunks, table, canonical = predict(trained, write_pngs(tmp_path / "new", trained["images"]))
    assert [len(chunk.data) for chunk, _ in chunks] == [7, 7, 7, 7, 2]
    assert all(chunk.total == COUNT for chunk, _ in chunks)
    assignments, poses = trained["assignments"], trained["poses"]
    assert table["image_id"].tolist() == list(range(COUNT))
    assert table["source"].tolist() == [str(tmp_path / "new" / f"{i:03d}.png") for i in range(COUNT)]
    np.testing.assert_array_equal(table["cluster"], assignments["selflabel"])
    np.testing.assert_allclose(table["confidence"], assignments["selflabel_confidence"], atol=1e-6)
    np.testing.assert_allclose(table["rotation_radians"], poses["predicted_rotation_radians"], atol=1e-5)
    np.testing.assert_allclose(table["shift_x_pixels"], poses["predicted_shift_x_pixels"], atol=1e-4)
    np.testing.assert_allclose(table["shift_y_pixels"], poses["predicted_shift_y_pixels"], atol=1e-4)
    np.testing.assert_allclose(canonical, trained["canonical"], atol=1e-5)


def test_without_canonical_images_nothing_is_rendered_and_the_predictions_stay(trained, tmp_path, monkeypatch):
    folder = write_pngs(tmp_path / "new", trained["images"])
    _, rendered_table, _ = predict(trained, folder)

    def no_render(*args, **kwargs):
        raise AssertionError("predict.canonical_images = false must not render")

    monkeypatch.setattr("irl_inr.pipelines.predict.nodes.render_in_batches", no_render)
    chunks, table, canonical = predict(trained, folder, {**PREDICT, "canonical_images": False})
    pd.testing.assert_frame_equal(table, rendered_table)
    assert [(chunk.start, chunk.total, chunk.data.shape) for _, chunk in chunks] == [(0, 0, (0, SIZE, SIZE))] * 5
    assert canonical.shape == (0, SIZE, SIZE) and canonical.dtype == np.float32


def test_the_scan_head_predicts_the_scan_clusters(trained, tmp_path):
    parameters = {**PREDICT, "head": "scan"}
    trained = {**trained, "reference": calibrate_novelty(trained["codes"], trained["poses"], trained["assignments"],
                                                         parameters)}
    _, table, _ = predict(trained, write_pngs(tmp_path / "new", trained["images"]), parameters)
    np.testing.assert_array_equal(table["cluster"], trained["assignments"]["scan"])


def test_noise_is_more_novel_than_the_training_shapes(trained, tmp_path):
    reference = trained["reference"]
    assert reference["calibration_images"] == COUNT and reference["clusters"] == sorted(
        np.unique(trained["assignments"]["selflabel"]).tolist())
    noise = np.random.default_rng(1).uniform(size=(10, SIZE, SIZE)).astype(np.float32)
    same_threads = {**PREDICT, "num_threads": torch_threads_for_tests()}  # as the calibration codes were encoded
    _, shapes_table, _ = predict(trained, write_pngs(tmp_path / "shapes", trained["images"]), same_threads)
    _, noise_table, _ = predict(trained, write_pngs(tmp_path / "noise", noise), same_threads)
    assert noise_table["novelty_score"].min() > shapes_table["novelty_score"].max()
    assert noise_table["is_novel"].all()
    assert shapes_table["is_novel"].mean() <= 0.1 + 1e-9  # novelty_quantile 0.9 on these very codes
    np.testing.assert_array_equal(shapes_table["is_novel"], shapes_table["novelty_score"] > reference["threshold"])


def test_a_reference_of_another_head_or_a_model_of_another_size_is_refused(trained, tmp_path):
    folder = write_pngs(tmp_path / "new", trained["images"][:3])
    with pytest.raises(ValueError, match=r"calibrated on the 'selflabel' clusters but predict.head = 'scan'"):
        predict(trained, folder, {**PREDICT, "head": "scan"})
    with pytest.raises(ValueError, match=r"front end makes 50-pixel images but irl_inr_model was trained on 28"):
        predict(trained, folder, front_end=digit_front_end({"image_size": 50}))


def test_an_input_the_front_end_does_not_read_is_an_error_naming_it(trained, tmp_path):
    stack = np.random.default_rng(0).normal(size=(2, 28, 28)).astype(np.float32)
    batch = RawImageBatch("mrc", stack, ["1@p.mrcs", "2@p.mrcs"])
    with pytest.raises(ValueError, match=r"1@p.mrcs: format 'mrc' is not an input of the mnist_u front end"):
        prepare_images(batch, digit_front_end({"image_size": SIZE}))
    big = RawImageBatch("idx", np.zeros((1, 60, 60), np.uint8), ["d.idx[0]"])
    with pytest.raises(ValueError, match=r"d.idx\[0\]: digits of 60x60 pixels do not fit"):
        prepare_images(big, digit_front_end({"image_size": SIZE}))


# --------------------------------------------------------------------------- front ends


def test_digits_are_padded_like_mnist_u_and_larger_pngs_shrunk():
    digits = np.random.default_rng(0).integers(0, 256, size=(2, 20, 20), dtype=np.uint8)
    padded = prepare_images(RawImageBatch("idx", digits, ["a", "b"]), digit_front_end({"image_size": SIZE}))
    assert padded.shape == (2, SIZE, SIZE) and np.array_equal(padded[:, 4:24, 4:24], digits / np.float32(255))
    large = np.full((1, 56, 56), 255, np.uint8)
    shrunk = prepare_images(RawImageBatch("png", large, ["c.png"]), digit_front_end({"image_size": SIZE}))
    assert shrunk.shape == (1, SIZE, SIZE) and np.allclose(shrunk, 1.0)


def test_wafers_are_resized_and_encoded_like_wm811k():
    front_end = wafer_front_end({"image_size": 16, "supersample": 1}, {"die_intensities": [0.0, 0.5, 1.0]})
    states = np.random.default_rng(0).integers(0, 3, size=(2, 23, 31)).astype(np.uint8)
    expected = encode_die_states(np.stack([resize_nearest(s, 16) for s in states]), [0.0, 0.5, 1.0])
    from_maps = prepare_images(RawImageBatch("wm811k", list(states), ["w row 1", "w row 2"]), front_end)
    png_levels = np.array([0, 128, 255], np.uint8)[states]  # a wafer map saved as a PNG
    from_png = prepare_images(RawImageBatch("png", png_levels, ["1.png", "2.png"]), front_end)
    assert np.array_equal(from_maps, expected) and np.array_equal(from_png, expected)


def test_supersampled_wafers_are_prepared_as_ingestion_prepares_them():
    sizes, levels = {"image_size": 16, "supersample": 4}, {"max_rotation_degrees": 0.0}
    states = [np.random.default_rng(0).integers(0, 3, size=shape).astype(np.uint8) for shape in ((23, 31), (40, 9))]
    table = pd.DataFrame({"row_id": [1, 2], "lot_name": ["lot", "lot"], "wafer_index": [1.0, 2.0], "die_size": [1.0, 1.0],
                          "map_height": [23, 40], "map_width": [31, 9], "failure_type": ["Loc", "Loc"],
                          "published_split": [None, None]})
    die_maps, wafer_table = ingest_wafers({"table": table, "maps": states, "source": "test"}, sizes)
    ingested, _ = rotate_wafers(die_maps, wafer_table, sizes, levels)
    new = prepare_images(RawImageBatch("wm811k", states, ["w row 1", "w row 2"]), wafer_front_end(sizes, levels))
    assert new.shape == (2, 16, 16) and np.array_equal(new, ingested)


def test_particles_are_preprocessed_like_cryo_em():
    section = {"image_size": 16, "contrast": "bright"}
    stack = np.random.default_rng(0).normal(size=(3, 32, 32)).astype(np.float32)
    stack[:, 12:20, 12:20] += 4
    prepared = prepare_images(RawImageBatch("mrc", stack, ["1@s", "2@s", "3@s"]), particle_front_end(section))
    assert np.array_equal(prepared, preprocess_stack(stack, 16, "fourier", 0.8, "bright", 1.0, 6.0, 1.0))
    with pytest.raises(ValueError, match=r"images 1@s .. 3@s: .*cannot downsample 8-pixel images to 16"):
        prepare_images(RawImageBatch("mrc", stack[:, :8, :8], ["1@s", "2@s", "3@s"]), particle_front_end(section))


# ----------------------------------------------------------------------------- pipeline


def predict_catalog(trained, folder, out, parameters=PREDICT):
    return DataCatalog({
        "irl_inr_model": MemoryDataset(trained["irl_inr"], copy_mode="assign"),
        "scan_model": MemoryDataset(trained["scan"], copy_mode="assign"),
        "selflabel_model": MemoryDataset(trained["selflabel"], copy_mode="assign"),
        "semantic_codes": MemoryDataset(trained["codes"]),
        "predicted_poses": MemoryDataset(trained["poses"]),
        "cluster_assignments": MemoryDataset(trained["assignments"]),
        "new_images": NewImagesDataset(str(folder), format="png"),
        "params:predict": MemoryDataset(parameters),
        "params:augmentation": MemoryDataset({"image_size": SIZE}),
        "predictions": StreamedParquetDataset(str(out / "predictions.parquet")),
        "new_canonical_images": StreamedNpyDataset(str(out / "canonical_images.npy")),
    })


def test_a_kedro_run_streams_both_outputs_to_disk(trained, tmp_path):
    folder = write_pngs(tmp_path / "new", trained["images"])
    SequentialRunner().run(create_pipeline("mnist_u"), predict_catalog(trained, folder, tmp_path / "out"))
    _, table, canonical = predict(trained, folder)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out/predictions.parquet"), table)
    assert np.array_equal(np.load(tmp_path / "out/canonical_images.npy"), canonical)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["canonical_images.npy",
                                                                          "predictions.parquet"]


def test_a_kedro_run_without_canonical_images_saves_an_empty_stack_over_the_earlier_one(trained, tmp_path):
    """The earlier run's canonical images do not stay beside predictions of other images."""
    folder, out = write_pngs(tmp_path / "new", trained["images"]), tmp_path / "out"
    SequentialRunner().run(create_pipeline("mnist_u"), predict_catalog(trained, folder, out))
    expected = pd.read_parquet(out / "predictions.parquet")
    catalog = predict_catalog(trained, folder, out, {**PREDICT, "canonical_images": False})
    SequentialRunner().run(create_pipeline("mnist_u"), catalog)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "predictions.parquet"), expected)
    canonical = catalog.load("new_canonical_images")
    assert canonical.shape == (0, SIZE, SIZE) and canonical.dtype == np.float32
    assert sorted(path.name for path in out.iterdir()) == ["canonical_images.npy", "predictions.parquet"]


def test_the_pipeline_reads_each_domains_front_end_parameters():
    for domain, sections in (("mnist_u", {"params:augmentation"}), ("wm811k", {"params:ingestion",
                             "params:augmentation"}), ("cryo_em", {"params:preprocessing"})):
        pipeline = create_pipeline(domain)
        assert pipeline.outputs() == {"predictions", "new_canonical_images"}
        assert pipeline.inputs() == sections | {"irl_inr_model", "scan_model", "selflabel_model", "semantic_codes",
                                                "predicted_poses", "cluster_assignments", "new_images",
                                                "params:predict"}
        assert all(node.tags == {"predict"} for node in pipeline.nodes)
    with pytest.raises(ValueError, match=r"domain must be one of"):
        create_pipeline("mnist")


# ------------------------------------------------------------------------------- colour


class ColourFrontEnd:
    """A domain whose front end hands on colour images (B, 3, S, S) as they are."""

    name = "colour"
    formats = ("npy",)

    def prepare_images(self, batch: RawImageBatch, front_end: dict) -> np.ndarray:
        return batch.pixels


class ColourBatches(list):
    """New images' batches as ``NewImages.batches`` gives them: iterable, with their ``total``."""

    def __init__(self, images: np.ndarray, batch_size: int) -> None:
        super().__init__(RawImageBatch("npy", images[start : start + batch_size],
                                       [f"colour[{index}]" for index in range(start, min(start + batch_size, len(images)))])
                         for start in range(0, len(images), batch_size))
        self.total = len(images)


@dataclasses.dataclass
class ColourImages:
    images: np.ndarray

    def batches(self, batch_size: int) -> ColourBatches:
        return ColourBatches(self.images, batch_size)


def tinted_shapes() -> tuple[np.ndarray, pd.DataFrame]:
    """:func:`shapes` in colour (N, 3, S, S), every class in its own tint."""
    images, table = shapes()
    tints = np.array([[1.0, 0.6, 0.2], [0.2, 0.5, 1.0], [0.3, 0.9, 0.3]], dtype=np.float32)
    return images[:, None] * tints[table["label"].to_numpy()][:, :, None, None], table


@pytest.fixture(scope="module")
def colour_trained(tmp_path_factory):
    return run_stages(*tinted_shapes(), tmp_path_factory.mktemp("colour_checkpoints"))


def predict_colour(trained, images, monkeypatch, parameters=PREDICT):
    monkeypatch.setattr("irl_inr.pipelines.predict.nodes.get_domain", lambda name: ColourFrontEnd())
    chunks = list(predict_new_images(
        trained["irl_inr"], trained["scan"], trained["selflabel"], trained["reference"], ColourImages(images),
        {"domain": "colour", "image_size": SIZE}, parameters,
    ))
    return chunks, pd.concat([table.data for table, _ in chunks], ignore_index=True), np.concatenate(
        [images.data for _, images in chunks])


def test_colour_predictions_are_the_clustering_and_embedding_stages_own(colour_trained, monkeypatch):
    """Every stage on colour shapes (SCAN, self-labelling, DTI, the baselines, the
    embedding): prediction on the same images gives their clusters, poses and
    three-channel canonical images."""
    trained = colour_trained
    assert trained["canonical"].shape == (COUNT, 3, SIZE, SIZE)
    _, table, canonical = predict_colour(trained, trained["images"], monkeypatch)
    assignments, poses = trained["assignments"], trained["poses"]
    assert set(assignments["dti"]) <= set(range(CLASSES))
    np.testing.assert_array_equal(table["cluster"], assignments["selflabel"])
    np.testing.assert_allclose(table["rotation_radians"], poses["predicted_rotation_radians"], atol=1e-5)
    np.testing.assert_allclose(canonical, trained["canonical"], atol=1e-5)
    chunks, _, empty = predict_colour(trained, trained["images"], monkeypatch, {**PREDICT, "canonical_images": False})
    assert {chunk.data.shape for _, chunk in chunks} == {(0, 3, SIZE, SIZE)} and empty.shape == (0, 3, SIZE, SIZE)


def test_images_of_other_channels_than_the_models_are_refused(colour_trained, trained, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"makes images of 1 channel\(s\) but irl_inr_model was trained on 3"):
        predict({**trained, **{key: colour_trained[key] for key in ("irl_inr", "scan", "selflabel", "reference")}},
                write_pngs(tmp_path / "grey", trained["images"][:3]))
    with pytest.raises(ValueError, match=r"makes images of 3 channel\(s\) but irl_inr_model was trained on 1"):
        predict_colour(trained, colour_trained["images"][:3], monkeypatch)
