import numpy as np
import pandas as pd
import pytest

from irl_inr.reporting.html import Section, check_self_contained, mapping_table_html, render_page, table_html


@pytest.mark.parametrize("body", [
    '<img src="//cdn.example.org/a.png">',
    "<div style=\"background: url('https://example.org/a.png')\"></div>",
    "<style>@import 'theme.css';</style>",
    '<link rel="stylesheet" href="http://example.org/a.css">',
])
def test_outside_resources_are_refused(body):
    with pytest.raises(ValueError, match="report section 'Extra' refers to an outside resource"):
        check_self_contained(Section("Extra", body))


def test_embedded_images_and_plain_text_about_addresses_are_allowed():
    check_self_contained(Section("Extra", '<img src="data:image/png;base64,iVBORw0KGgo="><p>see the README</p>'))


def test_tables_escape_text_and_align_numbers():
    frame = pd.DataFrame({"method": ["<b>scan</b>"], "acc": [np.float32(0.5)], "empty": [np.int64(0)]})
    text = table_html(frame, digits=2, highlight_rows=[0])
    assert '<tr class="highlight"><td>&lt;b&gt;scan&lt;/b&gt;</td><td class="number">0.50</td><td class="number">0</td></tr>' in text
    assert '<td>images</td><td class="number">5000</td>' in mapping_table_html({"images": 5000, "pose": {"deg": 1.5}})
    assert '<td>pose.deg</td><td class="number">1.50</td>' in mapping_table_html({"pose": {"deg": 1.5}})


def test_numbers_keep_their_significant_figures_however_small():
    text = mapping_table_html({"inverse_max_abs_error": 1.9e-06, "acc": 0.05551447761216488})
    assert '<td class="number">1.90e-06</td>' in text and '<td class="number">0.0555</td>' in text
    assert "0.0000" not in text


def test_flagged_rows_are_marked():
    text = table_html(pd.DataFrame({"cluster": [0, 1]}), flag_rows=[1])
    assert '<tr><td class="number">0</td></tr><tr class="flag"><td class="number">1</td></tr>' in text


def test_sections_get_unique_anchors_in_the_contents():
    page = render_page("T", "sub", [Section("Clustering", "a"), Section("Clustering", "b"), Section("The data", "c")])
    assert '<a href="#clustering">' in page and '<a href="#clustering-2">' in page and '<a href="#the-data">' in page
    assert '<section id="clustering-2"><h2>Clustering</h2>' in page
