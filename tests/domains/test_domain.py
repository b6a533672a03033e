"""The domain interface: one registry, every domain complete, and no domain named in the
shared code."""

import ast
from pathlib import Path

import numpy as np
import pytest

from irl_inr.datasets.new_images import READERS, detect_format
from irl_inr.domains import DOMAINS, get_domain
from irl_inr.domains.domain import Domain, RawImageBatch
from irl_inr.parameter_registry import DOMAIN_VALIDATORS
from irl_inr.pipeline_registry import register_pipelines

SOURCE = Path(__file__).resolve().parents[2] / "src" / "irl_inr"
# Code every domain shares: the stages, the models, training, the new-image reader.
SHARED = [path for path in SOURCE.rglob("*.py") if "domains" not in path.relative_to(SOURCE).parts]
REGISTRIES = {"pipeline_registry.py", "parameter_registry.py", "config.py", "hooks.py"}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_registry_lists_each_domain_package_once():
    packages = sorted(p.name for p in (SOURCE / "domains").iterdir() if (p / "__init__.py").is_file())
    assert sorted(DOMAINS) == packages == ["cryo_em", "images", "mnist_u", "wm811k"]
    assert all(isinstance(domain, Domain) and domain.name == name for name, domain in DOMAINS.items())


def test_the_shared_code_imports_no_domain_package():
    offending = {
        str(path.relative_to(SOURCE)): sorted(name for name in imported_modules(path) if name.startswith(
            tuple(f"irl_inr.domains.{domain}" for domain in DOMAINS)))
        for path in SHARED
    }
    assert {path: names for path, names in offending.items() if names} == {}


def test_only_the_registries_and_the_new_image_reader_read_the_domain_list():
    readers = {str(path.relative_to(SOURCE)) for path in SHARED if "irl_inr.domains" in imported_modules(path)}
    assert readers == REGISTRIES | {"datasets/new_images.py", "pipelines/predict/nodes.py",
                                    "pipelines/predict/pipeline.py"}


def test_every_domain_brings_its_pipelines_parameters_and_formats():
    pipelines = register_pipelines()
    for name, domain in DOMAINS.items():
        for variant in (*domain.front_ends, f"{name}_sharded", f"{name}_predict"):
            assert variant in pipelines
        assert DOMAIN_VALIDATORS[name] is domain.parameters and set(domain.parameters) >= {"ingestion"}
        assert domain.formats[-1] == "png" and all(READERS[f] for f in domain.formats)
        outputs = {output.split(".")[-1] for output in pipelines[name].all_outputs()}
        assert {"images", "image_table"} <= outputs


@pytest.mark.parametrize(("name", "expected"), [
    ("t10k-images-idx3-ubyte.gz", "idx"), ("digits.idx", "idx"), ("stack.mrcs", "mrc"), ("map.MRC", "mrc"),
    ("LSWMD.pkl", "wm811k"), ("wafers.parquet", "wm811k"), ("one.png", "png"), ("photo.jpg", "images"),
    ("photo.JPEG", "images"), ("scan.tif", "images"), ("scan.tiff", "images"), ("old.bmp", "images"),
    ("stack.npy", "images"),
])
def test_each_format_is_told_from_the_name_by_its_domains_reader(tmp_path, name, expected):
    assert detect_format(tmp_path / name) == expected
    assert detect_format(tmp_path) == "png"


def test_an_unknown_domain_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown domain 'mnist'.*\['cryo_em', 'images', 'mnist_u', 'wm811k'\]"):
        get_domain("mnist")


def test_a_domain_must_register_its_main_front_end_under_its_name():
    with pytest.raises(ValueError, match="first front end must be registered under its own name"):
        Domain("mine", {"other": lambda: None}, lambda: None, lambda batch, front_end: batch, (), {})


def test_each_domain_prepares_a_png_batch_as_model_input():
    y, x = np.mgrid[:20, :20]
    disc = np.where((y - 9.5) ** 2 + (x - 9.5) ** 2 < 30, 255, 60).astype(np.uint8)
    batch = RawImageBatch("png", np.stack([disc, disc.T[::-1]]), ["a.png", "b.png"])
    front_ends = {
        "mnist_u": {"image_size": 28},
        "wm811k": {"image_size": 16, "die_intensities": [0.0, 0.25, 1.0]},
        "cryo_em": {"image_size": 16, "downsampling": "area", "background_radius": 0.8, "contrast": "bright",
                    "floor_sigma": 3.0, "ceiling_sigma": 3.0, "mask_radius": None},
        "images": {"image_size": 16, "crop": "centre", "circular_mask": True, "background": "keep", "normalise": "per_set",
                   "min_side_pixels": 8, "cache_size": 32, "intensity_range": [0.0, 1.0]},
    }
    for name, front_end in front_ends.items():
        images = np.asarray(get_domain(name).prepare_images(batch, front_end))
        assert images.shape == (2, front_end["image_size"], front_end["image_size"]), name
        assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1, name


def test_no_source_file_is_over_450_lines():
    long = {str(path.relative_to(SOURCE)): n for path in SOURCE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > 450}
    assert long == {}
