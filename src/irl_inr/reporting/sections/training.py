"""The report's training section: the loss curves and what they say about the run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irl_inr.reporting import figures
from irl_inr.reporting.formatting import significant
from irl_inr.reporting.html import Section, figure_html, table_html
from irl_inr.reporting.parameters import ReportingParameters
from irl_inr.reporting.sections.inputs import require_columns
from irl_inr.training.loop import RESERVED_COLUMNS


def training_section(training_history: pd.DataFrame, options: ReportingParameters) -> Section:
    """One loss curve per term of the training history and a summary of the run."""
    require_columns(training_history, ("epoch", "seconds"), "training_history")
    terms = [column for column in training_history.columns if column not in RESERVED_COLUMNS]
    if not terms or training_history.empty:
        raise ValueError(
            f"training_history holds no loss term or no epoch (columns {list(training_history.columns)}, "
            f"{len(training_history)} rows): rerun train_irl_inr"
        )
    epochs = training_history["epoch"].to_numpy()
    curves = {term: training_history[term].to_numpy(dtype=float) for term in terms}
    summary = pd.DataFrame(
        [{"epochs": len(training_history), "training seconds": float(training_history["seconds"].sum()),
          **{f"last {term}": curves[term][-1] for term in terms}}]
    )
    figure = figures.loss_curves(epochs, curves, options.figure_width_inches)
    verdict, warn = loss_verdict(curves.get("total", next(iter(curves.values()))), options.loss_plateau_share)
    body = table_html(summary) + figure_html(
        figure, f"Loss terms: {', '.join(terms)}. Look for curves that fall and then flatten; a curve still falling "
        "at the last epoch means more epochs would help, one that rises means the learning rate is too high.",
        options.figure_dpi, verdict, warn,
    )
    return Section("Training", body)


def loss_verdict(total: np.ndarray, plateau_share: float) -> tuple[str, bool]:
    """The loss curve's reading: how much the loss fell, and whether it still fell by
    more than ``plateau_share`` of its first value over the last quarter of the epochs."""
    values = total[np.isfinite(total)]
    if len(values) < 2:
        return "only one epoch: no trend to read.", True
    first, last = float(values[0]), float(values[-1])
    scale = max(abs(first), 1e-12)
    quarter = values[-max(2, len(values) // 4):]
    still_falling = (quarter[0] - quarter[-1]) / scale > plateau_share
    text = f"the total loss went from {significant(first)} to {significant(last)}"
    if last > first:
        return text + ": it rose, so training diverged or the learning rate is too high.", True
    if still_falling:
        return text + " and was still falling at the end: more epochs would likely help.", True
    return text + " and levelled off.", False
