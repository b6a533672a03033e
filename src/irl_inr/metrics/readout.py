"""How much of the labels a representation holds at all: the cross-validated accuracy of
a linear classifier on it (the "linear probe" of self-supervised learning).

The labels train these read-outs and nothing else: the probe measures a finished code (or
a closed-form feature, measured the same way), it selects nothing.  A clustering that
reaches the probe's accuracy has taken from the code all a linear classifier could."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from irl_inr.metrics.arrays import check_same_length, feature_matrix, label_array


def linear_probe_accuracy(
    features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0, strength: float = 1.0
) -> float:
    """Mean held-out accuracy over ``folds`` stratified folds (shuffled with ``seed``) of an
    L2-regularised multinomial logistic regression (inverse strength ``strength``) on the
    rows of ``features`` (N, d), each column standardised on the training folds.

    Every class needs at least ``folds`` members (an error names the smallest class)."""
    rows = feature_matrix(features, "features", min_samples=2)
    labels = label_array(labels, "labels")
    check_same_length(rows, "features", labels, "labels")
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError("linear_probe_accuracy needs at least 2 label classes")
    if not (isinstance(folds, int) and folds >= 2):
        raise ValueError(f"folds must be an integer of at least 2, got {folds!r}")
    if counts.min() < folds:
        raise ValueError(
            f"label {classes[counts.argmin()].item()!r} has {counts.min()} member(s), fewer than the {folds} folds of the probe"
        )
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=strength, max_iter=2000))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the last iterations change the score in the 4th digit
        return float(cross_val_score(classifier, rows, labels, cv=splits).mean())
