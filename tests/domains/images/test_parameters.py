"""The images domain's parameter sections, its yml defaults, and ``--params images.folder``:
a known name that reaches the catalog."""

from pathlib import Path

import pytest

from irl_inr import settings
from irl_inr.config import runtime_parameter_names
from irl_inr.domains.images.parameters import ImageAugmentationParameters, ImageIngestionParameters
from irl_inr.parameter_registry import check_section_names, validate_parameters

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def config(runtime_params: dict | None = None):
    return settings.CONFIG_LOADER_CLASS(str(PROJECT_ROOT / "conf"), **settings.CONFIG_LOADER_ARGS,
                                        runtime_params=runtime_params or {})


def test_the_yml_defaults_pass_their_checks_and_match_the_model():
    parameters = config()["parameters"]["images"]
    ingestion = ImageIngestionParameters.from_dict(parameters["ingestion"])
    augmentation = ImageAugmentationParameters.from_dict(parameters["augmentation"])
    assert (ingestion.image_size, ingestion.crop, ingestion.normalise) == (32, "centre", "per_image")
    assert ingestion.channels == "auto"
    assert augmentation.rotate is False and augmentation.max_shift_pixels == 0.0
    for name, model in parameters["training"]["configurations"].items():
        assert model["model"]["image_size"] == ingestion.image_size, name
    assert parameters["clustering"]["n_clusters"] == 10 and parameters["reporting"]["domain"] == "images"


@pytest.mark.parametrize(("section", "values", "message"), [
    ("images.ingestion", {"channels": "rgb"},
     r"images.ingestion.channels = 'rgb': must be one of \['auto', 'gray', 'colour'\]"),
    ("images.ingestion", {"channels": 3}, r"images.ingestion.channels = 3: must be a string"),
    ("images.ingestion", {"crop": "middle"}, r"images.ingestion.crop = 'middle': must be one of \['centre', 'pad'\]"),
    ("images.ingestion", {"normalise": "global"}, r"images.ingestion.normalise = 'global': must be one of"),
    ("images.ingestion", {"image_size": 4}, r"images.ingestion.image_size = 4: must be at least 8"),
    ("images.ingestion", {"test_fraction": 1.0}, r"images.ingestion.test_fraction = 1.0: must be < 1.0"),
    ("images.ingestion", {"min_side_pixels": 0}, r"images.ingestion.min_side_pixels = 0: must be at least 1"),
    ("images.augmentation", {"rotate": "yes"}, r"images.augmentation.rotate = 'yes': must be true or false"),
    ("images.augmentation", {"max_shift_pixels": -1}, r"images.augmentation.max_shift_pixels = -1: must be >= 0"),
    ("images.augmentation", {"rotat": True}, r"images.augmentation: unknown parameter\(s\) \['rotat'\]"),
    ("images.folder", 3, r"images.folder = 3: must be a string"),
    ("images.folder", " ", r"images.folder = ' ': must name a folder"),
])
def test_a_bad_value_is_named_with_its_section(section, values, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        validate_parameters({section: values})


def test_params_images_folder_is_a_known_name_and_reaches_the_catalog(tmp_path):
    loader = config({"images": {"folder": str(tmp_path / "my images")}})
    parameters = loader["parameters"]
    assert parameters["images"]["folder"] == str(tmp_path / "my images")
    check_section_names(parameters, runtime_parameter_names(PROJECT_ROOT / "conf"))
    validate_parameters({"images.folder": parameters["images"]["folder"]})
    catalog = loader["catalog"]
    assert catalog["images.raw_images"]["folder"] == str(tmp_path / "my images")
    assert catalog["images.provenance"]["sources"]["image folder"] == str(tmp_path / "my images")
    assert config()["catalog"]["images.raw_images"]["folder"] == "data/01_raw/images"
    with pytest.raises(ValueError, match=r"images.foldr: unknown parameter section \(did you mean images.folder\?\)"):
        check_section_names({**parameters, "images": {**parameters["images"], "foldr": "x"}})
