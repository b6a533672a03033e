"""The report as a browser shows it: headless Chromium renders the page offline."""

import re

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


def test_chromium_shows_the_purity_labels_and_the_provenance_block(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(build_report(**tiny_report_inputs()), encoding="utf-8")
    dom = run_chromium(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    # Every cluster of the best method with its purity and largest classes.
    purity = dom[dom.index('<div class="purity">'):]
    purity = purity[: purity.index("</table>")]
    assert purity.count("<tr") == 1 + 3  # the header and the 3 clusters
    assert "<td>100 % horizontal</td>" in purity and "<td>100 % square</td>" in purity
    # The provenance block: the commit with its dirty flag, dvc.lock and the library versions.
    provenance = re.search(r'<dl class="provenance" id="provenance">(.*?)</dl>', dom, re.S)[1]
    assert "<dt>git commit</dt><dd>0123456789abcdef0123456789abcdef01234567 (dirty: uncommitted changes)</dd>" in provenance
    assert "<dt>dvc.lock sha256</dt><dd>feedc0ffee123456</dd>" in provenance
    assert "<dt>mlxtend</dt>" in provenance and "<dt>faiss-cpu</dt>" in provenance
    # Every figure has a caption with this run's reading.
    assert dom.count("<figcaption>") == dom.count('<span class="verdict') == 8
