"""The report as a browser shows it: headless Chromium renders the page offline."""

import numpy as np

from irl_inr.pipelines.reporting.nodes import build_report
from tests.reporting.chromium import run_chromium, screenshot_pixels
from tests.reporting.tiny_run import tiny_report_inputs


def test_chromium_renders_the_report_with_its_figures(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(build_report(**tiny_report_inputs()), encoding="utf-8")
    screenshot = tmp_path / "report.png"
    run_chromium(
        tmp_path / "profile", "--window-size=1000,2400", f"--screenshot={screenshot}", page.as_uri(),
    )
    pixels = screenshot_pixels(screenshot)
    # Text, tables and the grey-scale and coloured figures give well over a thousand
    # colours (a page of text alone about 200, a blank page one) ...
    assert len(np.unique(pixels, axis=0)) > 500
    # ... and the image grids' black backgrounds (the text is dark blue-grey, not black)
    # show that the embedded PNGs were decoded: about 2% of this page, 0.04% for text alone.
    assert (pixels == 0).all(axis=1).mean() > 0.005
