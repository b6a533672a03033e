"""The summary page: the last run of every domain side by side, with links to each
domain's report. Built from what the runs left on disk (every domain's last
``clustering_comparison.csv`` and its versioned reports), so that running one domain
refreshes its row and keeps the others."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from irl_inr.reporting.formatting import significant
from irl_inr.reporting.html import Section, paragraph_html, render_page, table_html

# A report's partition: <domain>/report.html/<version>/ (kedro run), or <domain>/dvc/
# (the DVC stages' unversioned copy, used when a domain has no versioned one).
_REPORT_ID = re.compile(r"^(?P<domain>[a-z][a-z0-9_]*)/(?:report\.html/(?P<version>[^/]+)|dvc)/?$")
_GENERATED = re.compile(r"generated (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)")


def latest_reports(report_ids) -> dict[str, tuple[str, str]]:
    """domain -> (partition id, path relative to the reporting folder) of its newest
    versioned report."""
    newest: dict[str, tuple[str, str, str]] = {}
    for partition in report_ids:
        match = _REPORT_ID.match(partition)
        if not match:
            continue
        version = match["version"] or ""  # the DVC copy ranks below any version
        if match["domain"] not in newest or version > newest[match["domain"]][0]:
            path = f"{match['domain']}/report.html/{version}/report.html" if version else f"{match['domain']}/dvc/report.html"
            newest[match["domain"]] = (version, partition, path)
    return {domain: (partition, path) for domain, (_, partition, path) in sorted(newest.items())}


def domain_of_comparison(partition: str) -> str | None:
    """``mnist_u/`` or ``mnist_u`` -> ``mnist_u``; a file deeper down is no domain's last comparison."""
    domain = partition.strip("/")
    return domain if re.fullmatch(r"[a-z][a-z0-9_]*", domain) else None


def comparison_columns(comparison: pd.DataFrame) -> pd.DataFrame:
    """The comparison without the columns that tell nothing for its domain: empty ones and
    ``acc_69`` where it equals ``acc`` (no 6 and 9 to merge)."""
    dropped = [column for column in comparison.columns if comparison[column].isna().all()]
    if {"acc", "acc_69"} <= set(comparison.columns) and np.allclose(
        comparison["acc"].to_numpy(dtype=float), comparison["acc_69"].to_numpy(dtype=float), equal_nan=True
    ):
        dropped.append("acc_69")
    return comparison.drop(columns=dropped)


def summary_page(
    domain: str, report: str, reports: Mapping[str, Callable[[], str]],
    comparisons: Mapping[str, Callable[[], pd.DataFrame]],
) -> str:
    """The page: an overview (per domain its best method, its accuracy, when its report
    was made and a link to it), then each domain's comparison of methods. ``domain`` and
    ``report`` are the run that builds the page (its report may not be on disk yet when
    the partitions were listed); ``reports`` and ``comparisons`` are the partitions of
    every domain's reports and comparisons on disk."""
    links = latest_reports(reports)
    tables = {name: load() for partition, load in sorted(comparisons.items())
              if (name := domain_of_comparison(partition)) is not None}
    overview, sections = [], []
    for name, comparison in tables.items():
        if comparison.empty or "acc" not in comparison or comparison["acc"].isna().all():
            best, accuracy = "unscored (no labels)", ""
        else:
            row = int(np.nanargmax(comparison["acc"].to_numpy(dtype=float)))
            best, accuracy = str(comparison["method"].iloc[row]), significant(comparison["acc"].iloc[row])
        page = report if name == domain else (reports[links[name][0]]() if name in links else "")
        generated = match[1] if (match := _GENERATED.search(page)) else "unknown"
        link = f'<a href="{html.escape(links[name][1])}">{html.escape(name)} report</a>' if name in links else "no report"
        overview.append(
            f"<tr><td>{html.escape(name)}</td><td>{html.escape(best)}</td><td class=\"number\">{accuracy}</td>"
            f"<td>{generated}</td><td>{link}</td></tr>"
        )
        highlight = [int(np.nanargmax(comparison["acc"].to_numpy(dtype=float)))] if accuracy else []
        sections.append(Section(f"{name}: methods", paragraph_html(f"Last run's comparison, report generated {generated}.")
                                + table_html(comparison_columns(comparison), highlight_rows=highlight)))
    head = "<tr><th>domain</th><th>best method</th><th>acc</th><th>report generated</th><th>report</th></tr>"
    intro = Section("Every domain's last run", paragraph_html(
        "One row per domain that has run: its best clustering method by Hungarian accuracy and a link to its full "
        "report. A domain that has not run yet is missing; run it with kedro run --pipelines <domain>."
    ) + f'<table id="runs"><thead>{head}</thead><tbody>{"".join(overview)}</tbody></table>')
    return render_page("IRL-INR: every domain's last run", f"Updated by the {domain} run", [intro, *sections])
