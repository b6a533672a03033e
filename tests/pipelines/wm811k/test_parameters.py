import yaml

from irl_inr.datasets.wm811k import WaferPickleDataset
from irl_inr.pipelines.wm811k.nodes import ingest_wafers
from irl_inr.pipelines.wm811k.parameters import VALIDATORS
from tests.conftest import PROJECT_ROOT


def domain_parameters() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_wm811k.yml").read_text())["wm811k"]


def test_the_own_sections_are_valid_and_name_themselves():
    parameters = domain_parameters()
    for section, validate in VALIDATORS.items():
        assert validate(parameters[section]).section == f"wm811k.{section}"


def test_n_clusters_is_the_number_of_classes_kept_from_the_sample(shared_data, tmp_path):
    parameters = domain_parameters()
    raw = WaferPickleDataset(str(shared_data / "wm811k" / "LSWMD_sample.pkl"), str(tmp_path / "w.parquet")).load()
    _, table = ingest_wafers(raw, parameters["ingestion"])
    assert table["label"].nunique() == parameters["clustering"]["n_clusters"] == 7
    assert len(table) == 199 and "Near-full" not in set(table["label_name"])
    assert (table["split"] == "train").sum() > parameters["interpretation"]["optimisation"]["batch_size"]
