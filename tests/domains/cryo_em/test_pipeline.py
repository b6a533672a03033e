from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from irl_inr.domains.cryo_em.datasets import MrcVolumeDataset, ParticleStackDataset
from irl_inr.domains.cryo_em import create_pipeline
from irl_inr.domains.cryo_em.parameters import VALIDATORS

PARAMETERS_FILE = Path(__file__).resolve().parents[3] / "conf" / "base" / "parameters_cryo_em.yml"
TINY = {
    "simulation": {"particles": 48, "volume_size": 24, "views": 4, "max_shift_pixels": 1.0},
    "ingestion": {"reference_views": 4, "test_fraction": 0.25},
    "preprocessing": {"image_size": 16, "preview_count": 3},
}
CONTRACT_COLUMNS = ["image_id", "label", "label_name", "split", "rotation_radians", "shift_x_pixels", "shift_y_pixels"]


class _KeptDataset(MemoryDataset):
    """A memory dataset the runner cannot release, so the test can read it after the run."""

    def _release(self) -> None:
        pass


def _run(source: str, inputs: dict, parameters: dict) -> DataCatalog:
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    for section, values in parameters.items():
        catalog[f"params:cryo_em.{section}"] = values
    for name in ("images", "image_table", "preview", "labelled_particles", "simulated_particles", "volume"):
        catalog[f"cryo_em.{name}"] = _KeptDataset(copy_mode="assign")
    SequentialRunner().run(Pipeline(create_pipeline(source=source), namespace="cryo_em"), catalog)
    return catalog


def _check_contract(images: np.ndarray, table: pd.DataFrame) -> None:
    assert images.dtype == np.float32 and images.ndim == 3 and images.shape[1] == images.shape[2]
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert list(table.columns[:7]) == CONTRACT_COLUMNS and len(table) == len(images)
    assert table["image_id"].tolist() == list(range(len(images))) and table["image_id"].dtype == np.int64
    assert table["label"].dtype == np.int64 and set(table["split"]) <= {"train", "test"}
    for column in CONTRACT_COLUMNS[4:]:
        assert table[column].dtype == np.float64


def test_simulated_front_end_meets_the_contract():
    catalog = _run("simulate", {"cryo_em.volume_file": None}, TINY)
    images, table = catalog["cryo_em.images"].load(), catalog["cryo_em.image_table"].load()
    _check_contract(images, table)
    assert images.shape == (48, 16, 16)
    assert np.bincount(table["label"]).tolist() == [12] * 4 and (table["split"] == "test").sum() == 12
    assert table["label_name"].iloc[0] == f"view {table['label'].iloc[0]}"
    assert table[["shift_x_pixels", "shift_y_pixels"]].abs().max().max() <= 1.0 * 16 / 24
    np.testing.assert_allclose(np.linalg.norm(table[["view_x", "view_y", "view_z"]], axis=1), 1.0)
    assert table["pixel_size_angstrom"].iloc[0] == pytest.approx(2.0 * 24 / 16)
    # bright particles on a dark background
    centre, corner = images[:, 5:11, 5:11].mean(), images[:, :3, :3].mean()
    assert centre > 5 * corner


def test_view_labels_survive_the_saved_stack(tmp_path):
    simulated = _run("simulate", {"cryo_em.volume_file": None}, TINY)["cryo_em.simulated_particles"].load()
    dataset = ParticleStackDataset(str(tmp_path / "simulated.star"))
    dataset.save(simulated)
    catalog = _run("star", {"cryo_em.raw_particles": dataset.load()}, TINY)
    table = catalog["cryo_em.image_table"].load()
    assert table["label"].tolist() == simulated["particles"]["view_index"].tolist()
    assert table["label_name"].str.startswith("view ").all()


def test_simulation_is_deterministic():
    first = _run("simulate", {"cryo_em.volume_file": None}, TINY)["cryo_em.images"].load()
    second = _run("simulate", {"cryo_em.volume_file": None}, TINY)["cryo_em.images"].load()
    assert np.array_equal(first, second)


def test_star_front_end_on_the_real_relion31_stack(shared_data):
    stack = ParticleStackDataset(str(shared_data / "cryoem" / "relion31.star")).load()
    parameters = {**TINY, "ingestion": {"reference_views": 4, "test_fraction": 0.0}}
    catalog = _run("star", {"cryo_em.raw_particles": stack}, parameters)
    images, table = catalog["cryo_em.images"].load(), catalog["cryo_em.image_table"].load()
    _check_contract(images, table)
    assert images.shape == (5, 16, 16)
    assert table["label_name"].str.startswith("near reference view").all()
    np.testing.assert_allclose(table["rotation_radians"], -np.radians(stack["particles"]["angle_psi_degrees"]))
    np.testing.assert_allclose(table["shift_x_pixels"], stack["particles"]["shift_x_pixels"] * 16 / 256)


def test_a_star_stack_without_angles_is_one_unlabelled_class(shared_data):
    stack = ParticleStackDataset(str(shared_data / "cryoem" / "toy_projections.star")).load()
    stack = {**stack, "images": stack["images"][:20], "particles": stack["particles"].iloc[:20]}
    catalog = _run("star", {"cryo_em.raw_particles": stack}, TINY)
    table = catalog["cryo_em.image_table"].load()
    assert (table["label"] == 0).all() and (table["label_name"] == "unlabelled").all()
    assert table["rotation_radians"].isna().all()


def test_an_image_size_above_the_particles_names_the_parameter_and_the_star_file(shared_data):
    star = shared_data / "cryoem" / "toy_projections.star"
    stack = ParticleStackDataset(str(star)).load()
    stack = {**stack, "images": stack["images"][:20], "particles": stack["particles"].iloc[:20]}
    parameters = {**TINY, "preprocessing": {**TINY["preprocessing"], "image_size": 32}}
    with pytest.raises(ValueError) as error:
        _run("star", {"cryo_em.raw_particles": stack}, parameters)
    assert str(error.value) == (
        f"cryo_em.preprocessing.image_size = 32: larger than the 30-pixel particles of {star}, which are only ever "
        "downsampled; set it to at most 30"
    )


def test_given_map_replaces_the_phantom(shared_data):
    volume = MrcVolumeDataset(str(shared_data / "cryoem" / "toymodel_small_nocenter.mrc")).load()
    parameters = {**TINY, "simulation": {**TINY["simulation"], "snr": None}}
    catalog = _run("simulate", {"cryo_em.volume_file": volume}, parameters)
    assert catalog["cryo_em.simulated_particles"].load()["images"].shape == (48, 30, 30)


def test_nodes_are_tagged_and_sources_checked():
    for source in ("simulate", "star"):
        pipeline = create_pipeline(source=source)
        assert set(pipeline.all_outputs()) >= {"images", "image_table", "preview"}
        assert all(node.tags & {"ingestion", "augmentation"} for node in pipeline.nodes)
    with pytest.raises(ValueError, match="source must be one of"):
        create_pipeline(source="micrographs")


def test_the_real_stack_front_end_runs_with_the_ingestion_tag():
    star = create_pipeline(source="star").only_nodes_with_tags("ingestion")
    assert {node.name for node in star.nodes} == {"label_particles", "preprocess_particles", "preview_particles"}
    assert star.inputs() == {"raw_particles", "params:ingestion", "params:preprocessing"}


def test_parameter_file_sections_are_valid_and_bad_values_named():
    sections = yaml.safe_load(PARAMETERS_FILE.read_text())["cryo_em"]
    for name, validate in VALIDATORS.items():
        validate(sections[name])
    assert sections["simulation"]["views"] == sections["clustering"]["n_clusters"]
    with pytest.raises(ValueError, match=r"cryo_em\.preprocessing\.image_size = 4: must be an integer of at least 8"):
        VALIDATORS["preprocessing"]({"image_size": 4})
    with pytest.raises(ValueError, match=r"cryo_em\.simulation: unknown parameter\(s\) \['snr_db'\]"):
        VALIDATORS["simulation"]({"snr_db": 3})
    with pytest.raises(ValueError, match=r"cryo_em\.simulation\.pixel_size_angstrom = 0.0: must be > 0.0"):
        VALIDATORS["simulation"]({"pixel_size_angstrom": 0.0})
