import base64
import math
import re

import pytest
from kedro.pipeline import Pipeline

from irl_inr.pipelines.reporting import create_pipeline
from irl_inr.pipelines.reporting.nodes import build_report, flatten_metrics, merge_metrics
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
