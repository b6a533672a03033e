import base64
import math
import re

import matplotlib.colors
import numpy as np
import pytest
from kedro.pipeline import Pipeline

from irl_inr.pipelines.reporting import create_pipeline
from irl_inr.pipelines.reporting.nodes import build_report, flatten_metrics, merge_metrics
from irl_inr.reporting import figures
from tests.reporting.tiny_run import tiny_report_inputs


def test_flatten_nested_numbers_only():
    flat = flatten_metrics("mnist_u", {"recon_mse": 0.01, "kmeans_z": {"acc": 0.5, "nmi": 0.4}, "note": "text", "ok": True})
    assert flat == {"mnist_u.recon_mse": 0.01, "mnist_u.kmeans_z.acc": 0.5, "mnist_u.kmeans_z.nmi": 0.4, "mnist_u.ok": 1}


def test_merge_sorts_and_refuses_duplicates():
    merged = merge_metrics("d", {"b": 1}, {"a": {"x": 2}})
    assert list(merged) == ["d.a.x", "d.b"]
    with pytest.raises(ValueError, match="d.b is reported by two stages"):
        merge_metrics("d", {"b": 1}, {"b": 2})


def test_nan_metric_is_an_error():
    with pytest.raises(ValueError, match="mnist_u.recon_mse is nan"):
        flatten_metrics("mnist_u", {"recon_mse": math.nan})


# ------------------------------------------------------------------------- the HTML report

SECTION_HEADINGS = ("The data", "Training", "Representations", "Clustering", "Provenance: code, data, parameters and versions")


def _embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_has_every_section_embedded_figures_and_no_outside_reference():
    page = build_report(**tiny_report_inputs())
    assert "<title>IRL-INR report: tiny_bars</title>" in page
    assert "<h1>IRL-INR report: tiny_bars</h1>" in page
    headings = re.findall(r"<h2>([^<]*)</h2>", page)
    assert headings == list(SECTION_HEADINGS)
    pngs = _embedded_pngs(page)
    # sample grid, pose histograms, loss curves, input/reconstruction/canonical, 2-D map,
    # confusion matrices of the best method (kmeans_z) and of self-labelling, cluster gallery
    assert len(pngs) == 8
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    assert "http" not in page
    assert "<script" not in page and "<link" not in page
    # The label names, the best method (highlighted) and the parameters are written out.
    assert "horizontal" in page and "square" in page
    assert '<tr class="highlight"><td>kmeans_z</td>' in page
    # Only the active training configuration, every section the run read (interpretation
    # and isometry among them), none of another pipeline's (predict) or another domain's.
    assert "latent_dim: 4" in page and "latent_dim: 256" not in page
    assert "<h3>interpretation</h3>" in page and "<h3>isometry</h3>" in page
    assert "config: paper" not in page
    assert "<dt>git commit</dt><dd>0123456789abcdef0123456789abcdef01234567 (dirty: uncommitted changes)</dd>" in page
    assert "<dt>dvc.lock sha256</dt><dd>feedc0ffee123456</dd>" in page
    assert "<dt>mlxtend</dt><dd>0.25.0</dd>" in page and "<dt>faiss-cpu</dt>" in page
    # Per class, the best method's and self-labelling's precision and recall side by side.
    assert "<th>kmeans_z precision</th>" in page and "<th>selflabel recall</th>" in page


def test_label_numbers_stand_in_for_missing_label_names():
    page = build_report(**tiny_report_inputs(with_label_names=False))
    assert "horizontal" not in page
    assert "<tr><td>0</td>" in page  # the class table's first row


def test_sections_appear_only_with_their_inputs():
    inputs = tiny_report_inputs()
    page = build_report(inputs["reporting_parameters"], training_history=inputs["training_history"])
    assert re.findall(r"<h2>([^<]*)</h2>", page) == ["Training"]
    assert len(_embedded_pngs(page)) == 1

    data_only = {name: inputs[name] for name in ("reporting_parameters", "images", "image_table")}
    assert re.findall(r"<h2>([^<]*)</h2>", build_report(**data_only)) == ["The data"]


def test_a_section_with_part_of_its_inputs_is_an_error():
    inputs = tiny_report_inputs()
    del inputs["predicted_poses"]
    with pytest.raises(ValueError, match=r"representations section needs \['predicted_poses'\]"):
        build_report(**inputs)


def test_rows_from_another_run_are_an_error_naming_the_dataset():
    inputs = tiny_report_inputs()
    embedding = {name: inputs[name] for name in (
        "reporting_parameters", "images", "image_table", "semantic_codes", "predicted_poses", "reconstructions",
        "canonical_images",
    )}
    with pytest.raises(ValueError, match="reconstructions has 11 images but predicted_poses has 12 rows"):
        build_report(**{**embedding, "reconstructions": inputs["reconstructions"][:-1]})
    with pytest.raises(ValueError, match=r"image_table lacks the column\(s\) \['shift_y_pixels'\]"):
        build_report(**{**embedding, "image_table": inputs["image_table"].drop(columns="shift_y_pixels")})
    moved = inputs["cluster_assignments"].assign(image_id=lambda table: table["image_id"] + 100)
    with pytest.raises(ValueError, match="canonical_images lacks 12 of the 12 images of cluster_assignments"):
        build_report(
            inputs["reporting_parameters"], image_table=inputs["image_table"], cluster_assignments=moved,
            clustering_comparison=inputs["clustering_comparison"], canonical_images=inputs["canonical_images"],
            predicted_poses=inputs["predicted_poses"],
        )


def _tinted(stack: np.ndarray) -> np.ndarray:
    """Grey images (N, S, S) as colour images (N, 3, S, S) in an orange tint."""
    return stack[:, None] * np.array([1.0, 0.6, 0.2], dtype=np.float32)[None, :, None, None]


def test_a_colour_run_is_reported_with_every_figure_and_its_channels(monkeypatch):
    """Images, reconstructions and canonical images of three channels: every section is
    built, the data section names the channels and the galleries get RGB images."""
    inputs = tiny_report_inputs()
    colour = {name: _tinted(inputs[name]) for name in ("images", "reconstructions", "canonical_images")}
    drawn = []
    show = figures.shown
    monkeypatch.setattr(figures, "shown", lambda image: drawn.append(show(image).shape) or show(image))
    page = build_report(**{**inputs, **colour, "reporting_parameters": {**inputs["reporting_parameters"],
                                                                         "gallery_inputs": True}})
    assert re.findall(r"<h2>([^<]*)</h2>", page) == list(SECTION_HEADINGS)
    assert len(_embedded_pngs(page)) == 8
    assert "30 images of 16x16 pixels and 3 channels in 3 classes." in page
    assert drawn and set(drawn) == {(16, 16, 3)}
    with pytest.raises(ValueError, match=r"reconstructions are images of shape \(16, 16\) but images are \(3, 16, 16\)"):
        build_report(**{**inputs, **colour, "reconstructions": inputs["reconstructions"]})


def test_extra_sections_are_appended_before_the_parameters_and_must_stay_offline():
    inputs = tiny_report_inputs()
    view_spread = [("View spread per class", "<table><tr><td>class 1</td><td>0.3</td></tr></table>")]
    page = build_report(**inputs, cryo_em_sections=view_spread)
    assert re.findall(r"<h2>([^<]*)</h2>", page) == [*SECTION_HEADINGS[:-1], "View spread per class", SECTION_HEADINGS[-1]]

    outside = [("Traversals", '<img src="https://example.org/traversal.png">')]
    with pytest.raises(ValueError, match="report section 'Traversals' refers to an outside resource"):
        build_report(**inputs, traversal_sections=outside)
    with pytest.raises(ValueError, match=r"report input traversal_sections\[0\] must be a \(title, html\) pair"):
        build_report(**inputs, traversal_sections=[("only a title",)])


def test_report_parameters_are_checked():
    inputs = tiny_report_inputs()
    with pytest.raises(ValueError, match=r"reporting: unknown parameter\(s\) \['map_size'\]"):
        build_report({**inputs["reporting_parameters"], "map_size": 10})
    with pytest.raises(ValueError, match=r"reporting.map_method = 'umap': must be one of \['tsne', 'pca'\]"):
        build_report({**inputs["reporting_parameters"], "map_method": "umap"})


def test_pca_map_and_a_namespaced_pipeline():
    inputs = tiny_report_inputs()
    page = build_report(**{**inputs, "reporting_parameters": {**inputs["reporting_parameters"], "map_method": "pca"}})
    assert "First two principal components of the codes: 12 of 12 images" in page

    pipeline = Pipeline(create_pipeline(), namespace="wm811k")
    assert {"wm811k.images", "wm811k.image_table", "params:wm811k.reporting"} <= pipeline.inputs()
    assert {"wm811k.provenance", "wm811k.interpretation_traversals", "wm811k.all_reports"} <= pipeline.inputs()
    assert pipeline.outputs() == {"wm811k.metrics", "wm811k.summary"}


WAFER_COLOURS = [[0.0, "#eeeeee"], [0.25, "#5a9e6f"], [1.0, "#c0392b"]]


def test_image_colours_are_grey_or_the_given_colours_at_their_levels():
    assert figures.image_colours(None) == figures.GREY
    colours = figures.image_colours(WAFER_COLOURS)
    for level, colour in WAFER_COLOURS:
        np.testing.assert_allclose(colours(level)[:3], matplotlib.colors.to_rgb(colour), atol=1 / 255)


@pytest.mark.parametrize(
    ("colours", "message"),
    [([[0.0, "white"]], "at least two"), ([[0.0, "white"], [0.5, "red"]], "rise from 0 to 1"),
     ([[0.0, "white"], [1.0, "not-a-colour"]], "at least two"), ("viridis", "")],
)
def test_bad_image_colours_are_refused(colours, message):
    inputs = tiny_report_inputs()
    with pytest.raises(ValueError, match=f"reporting.image_colours = .*{message}"):
        build_report({**inputs["reporting_parameters"], "image_colours": colours})


def test_the_gallery_shows_each_member_as_its_input_beside_its_canonical_image(monkeypatch):
    """With gallery_inputs, each cluster's row holds input, canonical, input, canonical...
    of its most confident members, in the report's colours."""
    inputs = tiny_report_inputs()
    drawn = {}
    draw = figures.cluster_gallery

    def spy(averages, exemplars, *args, **kwargs):
        drawn.update(exemplars=exemplars, colours=kwargs.get("colours"))
        return draw(averages, exemplars, *args, **kwargs)

    monkeypatch.setattr(figures, "cluster_gallery", spy)
    parameters = {**inputs["reporting_parameters"], "gallery_inputs": True, "image_colours": WAFER_COLOURS}
    build_report(**{**inputs, "reporting_parameters": parameters})
    assignments, images = inputs["cluster_assignments"], inputs["images"]
    canonical = inputs["canonical_images"]
    poses = inputs["predicted_poses"]
    for row in drawn["exemplars"]:
        assert len(row) % 2 == 0 and len(row) > 0
        for input_image, canonical_image in zip(row[0::2], row[1::2]):
            member = int(np.flatnonzero([(images[int(i)] == input_image).all() for i in assignments["image_id"]])[0])
            image_id = int(assignments["image_id"].iloc[member])
            assert (canonical[int(np.flatnonzero(poses["image_id"].to_numpy() == image_id)[0])] == canonical_image).all()
    assert isinstance(drawn["colours"], matplotlib.colors.Colormap)
