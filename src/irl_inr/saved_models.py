"""Saved models, as the training nodes return them (``{"config", "state_dict"}``: the
catalog's ``irl_inr_model``, ``scan_model``, ``selflabel_model``, ``dti_model``,
``interpretation_model``), turned back into modules, and the checks that one was trained
from another."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from irl_inr.fingerprint import digest
from irl_inr.models.dti import DTIClustering
from irl_inr.models.interpretation import InvertibleInterpretationNetwork
from irl_inr.models.irl_inr import IRLINR, IRLINRConfig
from irl_inr.models.clustering_heads import ClusteringHeads, clustering_head


def restore_irl_inr(irl_inr_model: dict) -> IRLINR:
    """The trained IRL-INR of ``irl_inr_model`` (what ``train_irl_inr`` returns), in eval mode."""
    model = IRLINR(IRLINRConfig.from_dict(irl_inr_model["config"]["model"]))
    model.load_state_dict(irl_inr_model["state_dict"])
    return model.eval()


def restore_encoder(irl_inr_model: dict, state_dict: Mapping[str, torch.Tensor], prefix: str) -> nn.Module:
    """The IRL-INR encoder with the weights stored under ``prefix`` in ``state_dict``."""
    encoder = restore_irl_inr(irl_inr_model).encoder
    weights = {key.removeprefix(prefix): value for key, value in state_dict.items() if key.startswith(prefix)}
    encoder.load_state_dict(weights)
    return encoder


def restore_scan_head(scan_model: dict) -> nn.Module:
    """The best SCAN head (as chosen after training), in eval mode."""
    config = scan_model["config"]
    weights = {key.removeprefix("heads."): value for key, value in scan_model["state_dict"].items()
               if key.startswith("heads.")}
    heads = ClusteringHeads(int(config["feature_dim"]), int(config["n_clusters"]), int(config["n_heads"]),
                            int(config["scan"].get("head_hidden", 0)))
    heads.load_state_dict(weights)
    return heads.eval().head(int(config["best_head"]))


def restore_selflabel_head(selflabel_model: dict) -> nn.Module:
    """The self-labelled head, in eval mode."""
    config = selflabel_model["config"]
    weights = {key.removeprefix("head."): value for key, value in selflabel_model["state_dict"].items()
               if key.startswith("head.")}
    last = weights["3.weight" if config.get("head_hidden", 0) else "weight"]
    first = weights["0.weight" if config.get("head_hidden", 0) else "weight"]
    head = clustering_head(first.shape[1], last.shape[0], int(config.get("head_hidden", 0)))
    head.load_state_dict(weights)
    return head.eval()


def restore_dti(dti_model: dict) -> DTIClustering:
    """The trained DTI clustering of ``dti_model``, in eval mode."""
    config = dti_model["config"]
    model = DTIClustering(config["n_clusters"], tuple(config["image_shape"]), **config["options"])
    model.load_state_dict(dti_model["state_dict"])
    return model.eval()


def interpretation_flow(config: Mapping) -> InvertibleInterpretationNetwork:
    """A fresh interpretation flow of the shape in ``config`` (``interpretation_model``'s config)."""
    return InvertibleInterpretationNetwork(
        config["dim"],
        blocks=config["blocks"],
        hidden=config["hidden"],
        scale_bound=config["scale_bound"],
        permutation_seed=config["permutation_seed"],
        num_classes=config["num_classes"],
        class_dims=config["class_dims"],
    )


def restore_interpretation(interpretation_model: dict) -> InvertibleInterpretationNetwork:
    """The trained flow of ``interpretation_model`` (what ``train_interpretation`` returns), in eval mode."""
    flow = interpretation_flow(interpretation_model["config"])
    flow.load_state_dict(interpretation_model["state_dict"])
    return flow.eval()


def normalises_codes(saved_model: dict) -> bool:
    """Whether a SCAN or self-label model's head reads unit-length codes (models saved
    before ``clustering.normalise_codes`` existed read raw codes)."""
    return bool(saved_model["config"].get("normalise_codes", False))


def model_digest(saved_model: Mapping, name: str) -> str:
    """The fingerprint of a saved model's weights, which models trained from it record."""
    if not isinstance(saved_model, Mapping) or not {"config", "state_dict"} <= set(saved_model):
        raise ValueError(
            f"{name} must be a saved model {{'config', 'state_dict'}}, got {type(saved_model).__name__}"
        )
    return digest(saved_model["state_dict"])


def check_trained_from(irl_inr_model: dict, saved_model: dict, name: str, scan_digest: str | None = None) -> None:
    """``saved_model`` must have been trained from this IRL-INR model (and, for
    self-labelling, from the SCAN model whose digest is ``scan_digest``)."""
    config = saved_model.get("config", {}) if isinstance(saved_model, Mapping) else {}
    if config.get("irl_inr_digest") != model_digest(irl_inr_model, "irl_inr_model"):
        raise ValueError(f"{name} was trained on another irl_inr_model: rerun its training node")
    if scan_digest is not None and config.get("scan_digest") != scan_digest:
        raise ValueError(f"{name} was trained from another scan_model: rerun train_selflabel")
