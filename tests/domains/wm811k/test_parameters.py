import yaml

from irl_inr.domains.wm811k.datasets import WaferPickleDataset
from irl_inr.domains.wm811k.nodes import ingest_wafers
from irl_inr.domains.wm811k.parameters import VALIDATORS
from tests.conftest import PROJECT_ROOT


def domain_parameters() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_wm811k.yml").read_text())["wm811k"]


def test_the_own_sections_are_valid_and_name_themselves():
    parameters = domain_parameters()
    for section, validate in VALIDATORS.items():
        assert validate(parameters[section]).section == f"wm811k.{section}"


def test_n_clusters_is_the_number_of_defect_types_of_the_real_lots(shared_data, tmp_path):
    """The defaults keep every defect type of LSWMD_lots_2k.pkl (none dropped): eight, as
    many as clusters, and a train split the interpretation can learn from."""
    parameters = domain_parameters()
    raw = WaferPickleDataset(str(shared_data / "wm811k" / "LSWMD_lots_2k.pkl"), str(tmp_path / "w.parquet")).load()
    _, table = ingest_wafers(raw, parameters["ingestion"])
    assert table["label"].nunique() == parameters["clustering"]["n_clusters"] == 8
    assert len(table) == 1627 and "none" not in set(table["label_name"])
    assert (table["split"] == "train").sum() > 1000


def test_the_encoders_die_levels_are_the_augmentations_good_and_defective_intensities():
    parameters = domain_parameters()
    good_and_defective = parameters["augmentation"]["die_intensities"][1:]
    for name, configuration in parameters["training"]["configurations"].items():
        levels = configuration["model"].get("augment_die_levels")
        assert levels is None or levels == good_and_defective, name
