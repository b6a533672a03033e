"""The checks of a domain's parameters against its images (irl_inr.data_checks), with the
project's own parameter files: what each domain's defaults need, and the one error that
names every parameter the images are too few for."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from irl_inr import settings
from irl_inr.data_checks import SECTIONS, check_images

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def parameters() -> dict:
    return settings.CONFIG_LOADER_CLASS(str(PROJECT_ROOT / "conf"), **settings.CONFIG_LOADER_ARGS)["parameters"]


def sections(parameters: dict, domain: str, **changes: dict) -> dict:
    """A copy of the domain's data-checked sections, with top-level ``changes`` per section."""
    return copy.deepcopy({name: {**parameters[domain][name], **changes.get(name, {})} for name in SECTIONS})


def table(count: int, classes: int, test_share: float = 0.2) -> pd.DataFrame:
    tests = int(count * test_share)
    return pd.DataFrame({"label": np.arange(count) % classes, "split": ["train"] * (count - tests) + ["test"] * tests})


def test_an_unlabelled_stack_of_300_passes_the_cryo_em_defaults(parameters):
    summary = check_images("cryo_em", table(300, 1), sections(parameters, "cryo_em"))
    assert summary.startswith("cryo_em: 300 images (240 train), unlabelled")
    assert "these settings need at least 256 images" in summary


def test_too_few_images_name_every_parameter_they_miss_and_the_least_number(parameters):
    with pytest.raises(ValueError) as caught:
        check_images("cryo_em", table(7, 1), sections(parameters, "cryo_em"))
    message = str(caught.value)
    assert message.startswith("cryo_em: too few images for these settings: 7 images, where they need at least 256 images.")
    for named in ("cryo_em.clustering.scan.optimisation.batch_size = 256 needs 256 images",
                  "cryo_em.training.configurations.fast.optimisation.batch_size = 128 needs 128 images",
                  "cryo_em.clustering.mining.neighbours = 20 needs 21 images",
                  "cryo_em.clustering.n_clusters = 8 needs 8 images"):
        assert named in message
    assert "interpretation" not in message  # 7 images still hold train rows


def test_lowering_the_named_parameters_lets_few_images_through(parameters):
    small = {"optimisation": {"batch_size": 4}}
    changes = sections(parameters, "cryo_em")
    changes["training"]["configurations"]["fast"]["optimisation"]["batch_size"] = 4
    changes["clustering"] = {**changes["clustering"], "n_clusters": 3, "mining": {"neighbours": 3},
                             "scan": {**changes["clustering"]["scan"], **small},
                             "selflabel": {**changes["clustering"]["selflabel"], **small},
                             "dti": {**changes["clustering"]["dti"], **small}}
    assert check_images("cryo_em", table(7, 1), changes).startswith("cryo_em: 7 images (6 train), unlabelled")


def test_class_count_against_n_clusters_is_read_from_the_labels(parameters):
    four = table(300, 4)
    with pytest.raises(ValueError, match=r"^wm811k\.clustering\.n_clusters = 8: the labels of the 300 images of "
                                         r"clustering.split = 'all' \(image_table\) hold 4 classes \[0, 1, 2, 3\]: "
                                         r"set n_clusters to 4"):
        check_images("wm811k", four, sections(parameters, "wm811k"))
    assert "4 label classes" in check_images(
        "wm811k", four, sections(parameters, "wm811k", clustering={"n_clusters": 4}))


def test_a_supervised_interpretation_needs_labels_and_auto_follows_them(parameters):
    unlabelled = table(300, 1)
    with pytest.raises(ValueError, match=r"^cryo_em\.interpretation\.supervised = True: needs at least 2 label classes "
                                         r"among the 240 train rows, which hold 1: set it to auto"):
        check_images("cryo_em", unlabelled, sections(parameters, "cryo_em", interpretation={"supervised": True}))
    assert parameters["cryo_em"]["interpretation"]["supervised"] == "auto"
    check_images("cryo_em", unlabelled, sections(parameters, "cryo_em", interpretation={"supervised": False}))


def test_the_default_run_s_5000_digits_pass_and_embedding_neighbours_count_only_with_labels(parameters):
    check_images("mnist_u", table(5000, 10), sections(parameters, "mnist_u"))
    few = {"n_clusters": 2, "mining": {"neighbours": 3}}
    tiny = sections(parameters, "mnist_u", clustering=few, embedding={"neighbours": 50})
    for block in ("scan", "selflabel", "dti"):
        tiny["clustering"][block] = {**parameters["mnist_u"]["clustering"][block], "optimisation": {"batch_size": 8}}
    tiny["training"]["configurations"]["fast"]["optimisation"]["batch_size"] = 8
    with pytest.raises(ValueError, match=r"mnist_u.embedding.neighbours = 50 needs 51 images"):
        check_images("mnist_u", table(40, 2), tiny)
    check_images("mnist_u", table(40, 1), tiny)  # unlabelled: no neighbour_acc to measure
