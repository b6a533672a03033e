"""A domain with fewer train codes than one batch still trains its interpretation flow."""

import numpy as np
import pandas as pd

from irl_inr.pipelines.interpretation.nodes import train_interpretation


def test_fewer_train_codes_than_a_batch_train_on_one_full_batch(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(30) % 2
    codes = (labels[:, None] * 3.0 + rng.standard_normal((30, 4))).astype(np.float32)
    table = pd.DataFrame({"image_id": np.arange(30), "label": labels, "split": ["train"] * 24 + ["test"] * 6})
    interpretation_model = train_interpretation(codes, table, {
        "class_dims": 1, "blocks": 2, "hidden": 8, "device": "cpu", "checkpoint_dir": str(tmp_path),
        "optimisation": {"epochs": 2, "batch_size": 256},
    })
    assert interpretation_model["config"]["optimisation"]["batch_size"] == 24
