"""The datasets' kedro-viz previews, the provenance dataset, the summary page and the
publishable static build."""

import json
import subprocess

import pandas as pd
from matplotlib.figure import Figure

from irl_inr.reporting.dataset import HtmlReportDataset, ProvenanceDataset
from irl_inr.reporting.previews import CSVDataset, FigureDataset, JSONDataset, ParquetDataset
from irl_inr.reporting.summary import latest_reports, summary_page
from irl_inr.reporting.viz_build import relativise_build


def test_a_dataset_without_its_file_previews_quietly(tmp_path):
    for dataset in (CSVDataset(filepath=str(tmp_path / "a.csv")), ParquetDataset(filepath=str(tmp_path / "a.parquet")),
                    JSONDataset(filepath=str(tmp_path / "a.json")), FigureDataset(filepath=str(tmp_path / "a.png")),
                    HtmlReportDataset(filepath=str(tmp_path / "a.html"))):
        assert dataset.preview() is None


def test_previews_round_their_numbers(tmp_path):
    table = CSVDataset(filepath=str(tmp_path / "a.csv"), save_args={"index": False})
    table.save(pd.DataFrame({"method": ["scan"], "acc": [0.05551447761216488]}))
    assert table.preview()["data"] == [["scan", 0.0555]]
    metrics = JSONDataset(filepath=str(tmp_path / "a.json"))
    metrics.save({"inverse_max_abs_error": 1.9134e-06, "nested": {"acc": 0.97123}})
    assert json.loads(metrics.preview()) == {"inverse_max_abs_error": 1.91e-06, "nested": {"acc": 0.971}}


def test_a_figure_saved_by_one_stage_loads_as_png_bytes_for_another(tmp_path):
    figure = FigureDataset(filepath=str(tmp_path / "a.png"))
    plot = Figure()
    plot.subplots().plot([0, 1])
    figure.save(plot)
    assert figure.load().startswith(b"\x89PNG\r\n\x1a\n") and figure.preview()


def test_provenance_names_the_commit_the_lock_and_each_source(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "dvc.lock"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], check=True)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw/digits.gz").write_bytes(b"12345")
    provenance = ProvenanceDataset({"digits": "raw", "volume": None, "gone": "missing.pkl"}, project_dir=str(tmp_path)).load()
    assert len(provenance["git"]["commit"]) == 40 and provenance["git"]["dirty"] is False
    assert len(provenance["dvc_lock"]) == 16
    assert provenance["data_sources"]["digits"].startswith("raw/digits.gz: 5 bytes, sha256 ")
    assert provenance["data_sources"]["volume"] == "not used"
    assert provenance["data_sources"]["gone"] == "missing.pkl: absent"
    assert {"mlxtend", "faiss-cpu", "torch"} <= set(provenance["packages"])
    (tmp_path / "dvc.lock").write_text("changed\n")
    assert ProvenanceDataset({}, project_dir=str(tmp_path)).load()["git"]["dirty"] is True


def test_the_summary_links_each_domains_newest_report():
    ids = ["mnist_u/report.html/2026-01-01T00.00.00.000Z/", "mnist_u/report.html/2026-02-01T00.00.00.000Z/",
           "mnist_u/dvc/", "wm811k/report.html/2026-01-05T00.00.00.000Z"]
    assert latest_reports(ids) == {
        "mnist_u": (ids[1], "mnist_u/report.html/2026-02-01T00.00.00.000Z/report.html"),
        "wm811k": (ids[3], "wm811k/report.html/2026-01-05T00.00.00.000Z/report.html"),
    }
    assert latest_reports(["cryo_em/dvc/"]) == {"cryo_em": ("cryo_em/dvc/", "cryo_em/dvc/report.html")}
    reports = {partition: (lambda: "<p>Domain x, generated 2026-01-05 10:00:00 UTC</p>") for partition in ids}
    comparisons = {
        "mnist_u/": lambda: pd.DataFrame({"method": ["kmeans_z", "scan"], "acc": [0.5, 0.7], "acc_69": [0.6, 0.8]}),
        "wm811k/": lambda: pd.DataFrame({"method": ["kmeans_z"], "acc": [0.4], "acc_69": [0.4]}),
    }
    page = summary_page("mnist_u", "<p>Domain mnist_u, generated 2026-03-01 00:00:00 UTC</p>", reports, comparisons)
    runs = page[page.index('<table id="runs">'):]
    assert '<td>mnist_u</td><td>scan</td><td class="number">0.700</td><td>2026-03-01 00:00:00 UTC</td>' in runs
    assert '<a href="wm811k/report.html/2026-01-05T00.00.00.000Z/report.html">wm811k report</a>' in runs
    wm811k = page[page.index("<h2>wm811k: methods</h2>"):]
    assert "acc_69" not in wm811k  # equal to acc: no 6 and 9 to merge


def test_the_static_build_is_rewritten_with_relative_paths(tmp_path):
    project = tmp_path / "project"
    (tmp_path / "build/api/nodes").mkdir(parents=True)
    node = {"filepath": f"{project}/data/08_reporting/mnist_u/metrics.json", "code": "x", "run_command": None}
    (tmp_path / "build/api/nodes/abc").write_text(json.dumps(node))
    wrapped = {"filepath": "/home/me/.venv/lib/python3.11/site-packages/torch/utils/_contextlib.py"}
    (tmp_path / "build/api/nodes/def").write_text(json.dumps(wrapped))
    (tmp_path / "build/api/main").write_text(json.dumps({"nodes": []}))
    assert relativise_build(tmp_path / "build", project) == 2
    assert json.loads((tmp_path / "build/api/nodes/abc").read_text())["filepath"] == "data/08_reporting/mnist_u/metrics.json"
    assert json.loads((tmp_path / "build/api/nodes/def").read_text())["filepath"] == "site-packages/torch/utils/_contextlib.py"


def test_the_committed_metrics_preview_their_file_rounded_and_save_what_the_dvc_stages_save(tmp_path):
    """The committed metrics' datasets of conf/base: previews of the committed file (no
    seconds), rounded, and nothing before it exists; their bytes are those of the plain
    timings datasets that the DVC stages write with."""
    from irl_inr.datasets import timings
    from irl_inr.reporting.previews import TimingsSplitCSVDataset, TimingsSplitJSONDataset

    table = TimingsSplitCSVDataset(filepath=str(tmp_path / "history.csv"), timing_columns=["seconds"])
    metrics = TimingsSplitJSONDataset(filepath=str(tmp_path / "metrics.json"))
    assert table.preview() is None and metrics.preview() is None
    history = pd.DataFrame({"epoch": [1, 2], "total": [0.123456789, 0.5], "seconds": [3.0, 4.0]})
    table.save(history)
    metrics.save({"acc": 0.987654321, "train_seconds": 12.0})
    assert table.preview(nrows=1) == {"index": [0], "columns": ["epoch", "total"], "data": [[1, 0.123]]}
    assert json.loads(metrics.preview()) == {"acc": 0.988}
    timings.TimingsSplitCSVDataset(filepath=str(tmp_path / "plain.csv"), timing_columns=["seconds"]).save(history)
    assert (tmp_path / "plain.csv").read_bytes() == (tmp_path / "history.csv").read_bytes()
