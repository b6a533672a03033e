import inspect

import pytest
from kedro.io.core import DatasetError, Version

from irl_inr.reporting.dataset import HtmlReportDataset

PAGE = "<!DOCTYPE html>\n<html><body><h1>Rapport: ü</h1></body></html>\n"


def test_versioned_round_trip_and_kedro_viz_preview(tmp_path):
    dataset = HtmlReportDataset(str(tmp_path / "report.html"), version=Version(None, "2026-11-26T10.00.00.000Z"))
    assert not dataset.exists()
    dataset.save(PAGE)
    assert (tmp_path / "report.html" / "2026-11-26T10.00.00.000Z" / "report.html").read_text(encoding="utf-8") == PAGE
    assert dataset.load() == PAGE
    assert dataset.preview() == PAGE
    # kedro-viz chooses the renderer by the name of the return annotation, as here.
    annotation = inspect.signature(dataset.preview).return_annotation
    assert getattr(annotation, "__name__", str(annotation)) == "HTMLPreview"
    assert [path.name for path in tmp_path.rglob("*")] == ["report.html", "2026-11-26T10.00.00.000Z", "report.html"]


def test_bad_pages_are_errors_naming_the_file(tmp_path):
    dataset = HtmlReportDataset(str(tmp_path / "report.html"))
    with pytest.raises(DatasetError, match="report.html: expected the page as a str, got bytes"):
        dataset.save(PAGE.encode())
    with pytest.raises(DatasetError, match=r"report.html: not a readable UTF-8 HTML page"):
        dataset.load()
    (tmp_path / "report.html").write_bytes(b"\xff\xfe<html>")
    with pytest.raises(DatasetError, match=r"report.html: not a readable UTF-8 HTML page"):
        dataset.load()
