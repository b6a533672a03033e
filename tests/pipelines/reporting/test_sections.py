"""The report's sections for the model options and for the viewing directions of particles."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.pipelines.interpretation.isometry import measure_isometry
from irl_inr.pipelines.interpretation.nodes import (
    measure_interpretation,
    measure_traversals,
    plot_traversals,
    train_interpretation,
)
from irl_inr.pipelines.reporting.sections import model_option_sections, traversal_verdict, view_spread_sections
from irl_inr.reporting.html import Section, check_self_contained, figure_png

DIM = 4


def tiny_model(**options) -> dict:
    config = IRLINRConfig(image_size=12, latent_dim=DIM, num_frequencies=8, inr_hidden=(8, 8), hypernetwork_hidden=(16,),
                          **options)
    torch.manual_seed(0)
    return {"config": {"name": "tiny", "model": dataclasses.asdict(config), "optimisation": {}},
            "state_dict": IRLINR(config).state_dict()}


def test_model_option_sections_say_which_options_were_on_and_show_the_traversals(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 2
    codes = (np.array([[2.0, 0, 0, 0], [-2.0, 0, 0, 0]])[labels] + 0.3 * rng.standard_normal((60, DIM))).astype(np.float32)
    table = pd.DataFrame({"image_id": np.arange(60), "label": labels, "split": ["train"] * 40 + ["test"] * 20})
    interpretation_parameters = {"class_dims": 1, "blocks": 2, "hidden": 8, "device": "cpu",
                                 "checkpoint_dir": str(tmp_path), "optimisation": {"epochs": 2, "batch_size": 20},
                                 "traversal_steps": 3, "traversal_rows": 1}
    flow = train_interpretation(codes, table, interpretation_parameters)
    for options, expected in (({}, "Full hypernetwork"),
                              ({"hypernetwork_kind": "low_rank", "hypernetwork_rank": 2, "isometry_weight": 0.5},
                               "Low-rank instance pattern composers")):
        model = tiny_model(**options)
        isometry = measure_isometry(model, codes, {"sample_size": 5, "batch_size": 5, "device": "cpu"})
        # The interpretation stage draws and measures the traversals; the report reads both.
        png = figure_png(plot_traversals(flow, model, codes, table, interpretation_parameters), 40)
        traversals = measure_traversals(flow, model, codes, table, interpretation_parameters)
        assert set(traversals) == {"residual_row_rms", "class_row_rms", "class_example_rms", "class_row_ratio"}
        sections = model_option_sections(
            model, isometry, measure_interpretation(flow, codes, table), png, traversals,
            {"domain": "toy", "figure_dpi": 40},
        )
        (decoder_title, decoder), (interpretation_title, interpretation) = sections
        assert expected in decoder and "mean_condition_number" in decoder
        assert ("regulariser was on" in decoder) == ("isometry_weight" in options)
        assert "inverse_max_abs_error" in interpretation and interpretation.count("<img") == 1
        assert "class_row_ratio" in interpretation and "This run:" in interpretation or "Warning:" in interpretation
        for section in sections:
            check_self_contained(Section(*section))


def test_traversal_verdict_says_when_the_classes_look_the_same():
    same, warn = traversal_verdict(
        {"residual_row_rms": 0.01, "class_row_rms": 0.002, "class_example_rms": 0.2, "class_row_ratio": 0.01}, 0.5
    )
    assert warn and same.startswith("the traversals look the same across classes") and "0.0100 times" in same
    distinct, warn = traversal_verdict(
        {"residual_row_rms": 0.01, "class_row_rms": 0.18, "class_example_rms": 0.2, "class_row_ratio": 0.9}, 0.5
    )
    assert not warn and distinct.startswith("the class factor changes the image as the classes do")
    unsupervised, warn = traversal_verdict({"residual_row_rms": 0.05}, 0.5)
    assert not warn and "no class row" in unsupervised


def test_view_spread_is_small_for_classes_of_one_view_and_absent_without_views():
    directions = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    labels = np.arange(40) % 2
    table = pd.DataFrame({"image_id": np.arange(40), "label": labels})
    assignments = pd.DataFrame({"image_id": np.arange(40)[::-1], "label": labels[::-1], "scan": labels[::-1],
                                "kmeans_z": np.zeros(40, dtype=int)})
    comparison = pd.DataFrame({"method": ["scan", "kmeans_z"], "acc": [1.0, 0.5]})
    assert view_spread_sections(assignments, comparison, table) == []
    with_views = table.assign(view_x=directions[labels, 0], view_y=directions[labels, 1], view_z=directions[labels, 2])
    ((title, html),) = view_spread_sections(assignments, comparison, with_views)
    assert "scan" in html and "45.0°" in html  # all particles: half at +z, half at +x -> 45 degrees off their mean
    assert html.count("<tr>") >= 3
