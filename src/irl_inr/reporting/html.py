"""Pieces of a self-contained HTML page: figures as base64 PNG ``data:`` URIs, tables,
sections, and the page itself with its style inline, so that it opens offline with
nothing fetched from anywhere.

Other stages can build extra report sections with :func:`figure_html`,
:func:`table_html` and :func:`mapping_table_html` and hand them to the report as
``(title, html)`` pairs; :func:`render_page` refuses any section that would load
something from outside the page."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from irl_inr.reporting.formatting import SIGNIFICANT_DIGITS, significant

# An attribute or CSS that would make the browser fetch something: src=/href= to an
# http(s) or protocol-relative address, url(...) to one, or a CSS @import.
_EXTERNAL_REFERENCE = re.compile(
    r"""(?:\b(?:src|href|srcset|action|poster)\s*=\s*["']?\s*(?:https?:|//))"""
    r"""|(?:url\(\s*["']?\s*(?:https?:|//))|(?:@import\b)""",
    re.IGNORECASE,
)

_STYLE = """
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; margin: 0; color: #1d232a;
       background: #ffffff; line-height: 1.45; }
header { background: #1f3b57; color: #ffffff; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 26px; }
header p { margin: 0; font-size: 14px; opacity: 0.85; }
nav { padding: 10px 32px; border-bottom: 1px solid #d5dbe1; font-size: 14px; }
nav a { margin-right: 18px; color: #1f3b57; }
main { max-width: 1180px; padding: 8px 32px 40px 32px; }
section { border-bottom: 1px solid #e3e7eb; padding-bottom: 12px; }
h2 { color: #1f3b57; margin-top: 28px; }
h3 { margin-bottom: 6px; }
figure { margin: 10px 0 18px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7eb; }
figcaption { font-size: 13px; color: #4a5561; }
table { border-collapse: collapse; margin: 8px 0 16px 0; font-size: 13px; }
th, td { border: 1px solid #d5dbe1; padding: 3px 9px; text-align: left; }
th { background: #eef2f5; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.highlight td { background: #fff4d6; font-weight: bold; }
tr.flag td { background: #fde2e1; }
figcaption .verdict { font-weight: bold; color: #1d232a; }
figcaption .verdict.warn { color: #9b1c1c; }
dl.provenance { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; font-size: 13px; }
dl.provenance dt { font-weight: bold; }
dl.provenance dd { margin: 0; font-family: monospace; }
pre { background: #f5f7f9; border: 1px solid #e3e7eb; padding: 10px; font-size: 12px; overflow-x: auto; }
p.note { font-size: 13px; color: #4a5561; }
"""


@dataclasses.dataclass(frozen=True)
class Section:
    """One ``<section>`` of the report: its heading and its HTML body."""

    title: str
    body: str


def figure_png(figure: Figure, dpi: int) -> bytes:
    """The figure as PNG bytes (no timestamp or software metadata, so the same figure
    gives the same bytes)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def image_html(png: bytes, alt: str) -> str:
    """An ``<img>`` holding the PNG itself as a base64 ``data:`` URI."""
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def figure_html(figure: Figure, caption: str, dpi: int, verdict: str = "", warn: bool = False) -> str:
    """A ``<figure>`` with the rendered figure embedded and its caption: what the figure
    shows and what to look for, then ``verdict``, this run's reading of it (marked as a
    warning with ``warn``)."""
    return png_figure_html(figure_png(figure, dpi), caption, verdict, warn)


def png_figure_html(png: bytes, caption: str, verdict: str = "", warn: bool = False) -> str:
    """:func:`figure_html` for a figure already rendered to PNG (one another stage drew)."""
    reading = ""
    if verdict:
        marker = "verdict warn" if warn else "verdict"
        reading = f' <span class="{marker}">{"Warning: " if warn else "This run: "}{html.escape(verdict)}</span>'
    return f"<figure>{image_html(png, caption)}<figcaption>{html.escape(caption)}{reading}</figcaption></figure>"


def table_html(
    frame: pd.DataFrame, digits: int = SIGNIFICANT_DIGITS, highlight_rows: Iterable[int] = (),
    flag_rows: Iterable[int] = (),
) -> str:
    """A DataFrame as an HTML table (values escaped, floats to ``digits`` significant
    figures); the rows at the positions in ``highlight_rows`` are marked as the best, those
    in ``flag_rows`` as a warning."""
    highlight, flagged = set(highlight_rows), set(flag_rows)
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    rows = []
    for position, values in enumerate(frame.itertuples(index=False, name=None)):
        cells = "".join(_cell(value, digits) for value in values)
        marker = ' class="highlight"' if position in highlight else ' class="flag"' if position in flagged else ""
        rows.append(f"<tr{marker}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def mapping_table_html(
    mapping: Mapping, descriptions: Mapping[str, str] | None = None, digits: int = SIGNIFICANT_DIGITS
) -> str:
    """A (possibly nested) mapping as a two-column table, nested keys joined by dots;
    with ``descriptions``, a third column explains the keys it knows."""
    rows = list(_flat_items("", mapping))
    if descriptions is None:
        frame = pd.DataFrame(rows, columns=["measure", "value"], dtype=object)
    else:
        frame = pd.DataFrame(
            [(key, value, descriptions.get(key, "")) for key, value in rows], columns=["measure", "value", "meaning"],
            dtype=object,
        )
    return table_html(frame, digits)


def preformatted_html(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def paragraph_html(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def check_self_contained(section: Section) -> None:
    """Raise ``ValueError`` naming the section if its HTML would fetch anything from
    outside the page (the report must open offline)."""
    match = _EXTERNAL_REFERENCE.search(section.body) or _EXTERNAL_REFERENCE.search(section.title)
    if match:
        raise ValueError(
            f"report section {section.title!r} refers to an outside resource ({match.group(0)!r}...): "
            "embed images as data: URIs and styles inline so the report opens offline"
        )


def render_page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole page: header, a table of contents, then every section in order."""
    anchors = _anchors([section.title for section in sections])
    for section in sections:
        check_self_contained(section)
    contents = "".join(
        f'<a href="#{anchor}">{html.escape(section.title)}</a>' for anchor, section in zip(anchors, sections)
    )
    body = "\n".join(
        f'<section id="{anchor}"><h2>{html.escape(section.title)}</h2>\n{section.body}\n</section>'
        for anchor, section in zip(anchors, sections)
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>\n"
        f"<nav>{contents}</nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _anchors(titles: Sequence[str]) -> list[str]:
    """A unique, URL-safe id per section title (``the-data``, ``clustering-2``)."""
    anchors: list[str] = []
    for title in titles:
        anchor = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"
        candidate, number = anchor, 2
        while candidate in anchors:
            candidate, number = f"{anchor}-{number}", number + 1
        anchors.append(candidate)
    return anchors


def _flat_items(prefix: str, mapping: Mapping):
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flat_items(f"{name}.", value)
        else:
            yield name, value


def _cell(value, digits: int) -> str:
    """A ``<td>``: numbers to ``digits`` significant figures, aligned right."""
    if isinstance(value, bool | np.bool_):
        return f"<td>{value}</td>"
    if isinstance(value, float | np.floating | int | np.integer):
        return f'<td class="number">{significant(value, digits)}</td>'
    return f"<td>{html.escape(str(value))}</td>"

