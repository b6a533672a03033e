"""The report's readings: cluster purity and what each caption concludes from the data."""

import numpy as np
import pandas as pd

from irl_inr.metrics import match_clusters
from irl_inr.reporting.sections.clustering import (
    applicable_columns,
    cluster_purity,
    confusion_verdict,
    purity_label,
    purity_table,
)
from irl_inr.reporting.sections.provenance import used_parameters
from irl_inr.reporting.sections.representations import map_neighbour_agreement
from irl_inr.reporting.sections.training import loss_verdict


def test_a_cluster_of_two_classes_is_labelled_with_both_and_flagged():
    # The case: cluster 7 holds 100 fours, 99 twos and 172 others (27 % plurality).
    labels = np.array([4] * 100 + [2] * 99 + [0] * 60 + [1] * 56 + [3] * 56 + [4] * 300 + [2] * 300)
    clusters = np.array([7] * 371 + [1] * 300 + [2] * 300)
    matching = match_clusters(labels, clusters)
    names = {label: str(label) for label in range(5)}
    table = purity_table(matching, names, 0.5).set_index("cluster")
    assert table.loc[7, "largest classes"] == "27 % 4, 27 % 2"
    assert table.loc[7, "purity"] == "27 %" and table.loc[7, "flag"] == "mixed"
    assert table.loc[1, "largest classes"] == "100 % 4" and table.loc[1, "flag"] == ""
    assert table.loc[7, "images"] == 371


def test_purity_of_columns_and_labels_of_empty_clusters():
    counts = np.array([[3, 0, 1], [1, 0, 1]])
    assert np.allclose(cluster_purity(counts), [0.75, 0.0, 0.5])
    assert purity_label(counts[:, 1], ["a", "b"]) == "empty"
    assert purity_label(counts[:, 0], ["a", "b"]) == "75 % a, 25 % b"


def test_matching_comes_from_the_metrics_module_and_orders_matched_clusters_by_class():
    matching = match_clusters(np.array([0, 0, 1, 1, 2]), np.array([5, 5, 3, 3, 9]))
    assert matching.clusters == [5, 3, 9] and matching.class_of == {5: 0, 3: 1, 9: 2}


def test_confusion_verdict_counts_mixed_clusters_and_compares_with_chance():
    text, warn = confusion_verdict("scan", 0.9, np.array([0.9, 0.95, 0.3]), 0.5, 0.1)
    assert warn and "scan matches 90 % of the images to their class (chance: 10 %)" in text
    assert "1 of 3 clusters hold less than 50 % of one class" in text
    text, warn = confusion_verdict("scan", 0.9, np.array([0.9, 0.95]), 0.5, 0.1)
    assert not warn and "every cluster holds at least 50 %" in text


def test_loss_verdict_reads_the_curve():
    assert not loss_verdict(np.array([5.0, 2.0, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0]), 0.02)[1]
    text, warn = loss_verdict(np.array([5.0, 4.0, 3.0, 2.0]), 0.02)
    assert warn and "still falling" in text
    text, warn = loss_verdict(np.array([1.0, 2.0]), 0.02)
    assert warn and "rose" in text


def test_map_agreement_is_high_for_separated_classes_and_chance_for_mixed():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    separated = rng.normal(size=(100, 2)) + 20 * labels[:, None]
    agreement, chance = map_neighbour_agreement(separated, labels)
    assert agreement == 1.0 and chance == 0.5
    assert map_neighbour_agreement(rng.normal(size=(100, 2)), labels)[0] < 0.7


def test_columns_that_do_not_apply_are_left_out():
    comparison = pd.DataFrame({"method": ["scan"], "acc": [0.5], "acc_69": [0.5], "nmi": [np.nan]})
    assert list(applicable_columns(comparison, {0: "none", 1: "scratch"})) == ["method", "acc"]
    assert list(applicable_columns(comparison, {6: "6", 9: "9"})) == ["method", "acc", "acc_69"]


def test_only_the_active_training_configuration_is_shown():
    used = used_parameters({"training": {"config": "fast", "configurations": {"fast": {"a": 1}, "paper": {"a": 2}}},
                            "isometry": {"sample_size": 5}})
    assert used == {"training": {"config": "fast", "configuration": {"a": 1}}, "isometry": {"sample_size": 5}}
