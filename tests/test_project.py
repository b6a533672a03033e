"""The project shell: registered pipelines, namespaces, the catalog behind every dataset,
the parameter files and their checks."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog

from irl_inr import settings
from irl_inr.config import lay_domains_over_stage_defaults, runtime_parameter_names
from irl_inr.hooks import sections_used
from irl_inr.parameter_registry import DOMAINS, check_section_names, validate_parameters
from irl_inr.pipeline_registry import STAGES, register_pipelines

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config() -> OmegaConfigLoader:
    return settings.CONFIG_LOADER_CLASS(str(PROJECT_ROOT / "conf"), **settings.CONFIG_LOADER_ARGS)


@pytest.fixture(scope="module")
def pipelines():
    return register_pipelines()


def test_every_domain_is_registered_and_the_default_is_mnist_u(pipelines):
    assert set(DOMAINS) <= set(pipelines)
    assert pipelines["__default__"].nodes == pipelines["mnist_u"].nodes


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_lives_in_its_namespace_and_tags_nodes_by_stage(pipelines, domain):
    pipeline = pipelines[domain]
    for node in pipeline.nodes:
        assert node.namespace == domain, node.name
        assert len(node.tags & set(STAGES)) == 1, (node.name, node.tags)
    for name in pipeline.datasets():
        assert name.startswith((f"{domain}.", f"params:{domain}.")), name
    assert {f"{domain}.images", f"{domain}.image_table", f"{domain}.metrics"} <= pipeline.datasets()
    assert {stage for node in pipeline.nodes for stage in node.tags} >= {"training", "embedding", "clustering", "reporting"}


def stage_of(node) -> str:
    (stage,) = node.tags & set(STAGES)
    return stage


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_dataset_that_leaves_a_stage_is_in_the_catalog(pipelines, config, domain):
    """What one stage writes and another reads is saved by the catalog (so each stage runs
    alone, as DVC does), and the shared outputs go to data/<layer>/<domain>/."""
    catalog = DataCatalog.from_config(config["catalog"])
    pipeline = pipelines[domain]
    for name in pipeline.datasets():
        if name.startswith("params:"):
            continue
        producers = {stage_of(node) for node in pipeline.nodes if name in node.outputs}
        consumers = {stage_of(node) for node in pipeline.nodes if name in node.inputs}
        dataset = catalog.get(name)
        if producers | consumers == producers and len(producers) == 1 and consumers:
            continue  # produced and read inside one stage: may stay in memory
        assert dataset is not None and type(dataset).__name__ != "MemoryDataset", name
        if name.split(".", 1)[1] in ("images", "image_table", "semantic_codes", "metrics"):
            assert f"/{domain}/" in str(dataset._describe()), name


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_parameter_section_a_domain_reads_exists_and_passes_its_checks(pipelines, config, domain):
    parameters = config["parameters"]
    sections = sections_used(pipelines[domain].datasets())
    assert {f"{domain}.training", f"{domain}.clustering"} <= sections
    values = {}
    for section in sections:
        owner, name = section.split(".")
        assert name in parameters[owner], f"parameters_{owner}.yml has no section {name}"
        values[section] = parameters[owner][name]
    validate_parameters(values)
    assert parameters[domain]["reporting"]["domain"] == domain


def test_mnist_u_takes_the_stage_defaults_and_runtime_overrides_reach_it():
    loader = settings.CONFIG_LOADER_CLASS(
        str(PROJECT_ROOT / "conf"), **settings.CONFIG_LOADER_ARGS, runtime_params={"training": {"config": "paper"}}
    )
    parameters = loader["parameters"]
    assert parameters["mnist_u"]["training"] == parameters["training"]
    assert parameters["mnist_u"]["training"]["config"] == "paper"


def test_a_domain_writes_only_its_differences_and_its_own_keys_win():
    defaults = {"training": {"config": "fast", "configurations": {"fast": {"model": {"image_size": 50, "latent_dim": 32}}}},
                "embedding": {"neighbours": 20}}
    parameters = {**defaults, "cryo_em": {"training": {"configurations": {"fast": {"model": {"image_size": 32}}}},
                                         "simulation": {"views": 8}}}
    laid = lay_domains_over_stage_defaults(parameters)
    assert laid["cryo_em"]["training"]["configurations"]["fast"]["model"] == {"image_size": 32, "latent_dim": 32}
    assert laid["cryo_em"]["training"]["config"] == "fast" and laid["cryo_em"]["embedding"] == {"neighbours": 20}
    assert laid["cryo_em"]["simulation"] == {"views": 8} and laid["training"] == defaults["training"]
    with pytest.raises(ValueError, match="cryo_em.embedding must be a mapping"):
        lay_domains_over_stage_defaults({**defaults, "cryo_em": {"embedding": 3}})


def test_a_local_change_to_a_stage_default_reaches_every_domain(tmp_path):
    import shutil

    shutil.copytree(PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf/local").mkdir()
    (tmp_path / "conf/local/parameters.yml").write_text("embedding:\n  figure_count: 7\ncryo_em:\n  embedding:\n    seed: 5\n")
    parameters = settings.CONFIG_LOADER_CLASS(str(tmp_path / "conf"), **settings.CONFIG_LOADER_ARGS)["parameters"]
    for domain in DOMAINS:
        assert parameters[domain]["embedding"]["figure_count"] == 7, domain
    assert parameters["cryo_em"]["embedding"]["seed"] == 5 and parameters["cryo_em"]["embedding"]["max_shift_pixels"] == 2.0


def test_a_bad_domain_parameter_is_named_with_its_domain():
    with pytest.raises(ValueError, match=r"^mnist_u\.augmentation\.image_size = 20: must be at least 28"):
        validate_parameters({"mnist_u.augmentation": {"image_size": 20}})
    with pytest.raises(ValueError, match=r"^mnist_u\.training\.config = 'nope'"):
        validate_parameters({"mnist_u.training": {"config": "nope", "configurations": {"fast": {}}}})
    with pytest.raises(ValueError, match=r"^training\.split = 'x'"):
        validate_parameters({"training": {"split": "x", "configurations": {"fast": {}}}})


def test_sections_used_reads_whole_sections_and_their_keys():
    names = {"params:mnist_u.training", "params:mnist_u.reporting.domain", "params:clustering", "mnist_u.images"}
    assert sections_used(names) == {"mnist_u.training", "mnist_u.reporting", "clustering"}


@pytest.mark.parametrize("domain", DOMAINS)
def test_predict_reads_the_trained_domain_and_writes_through_the_catalog(pipelines, config, domain):
    pipeline = pipelines[f"{domain}_predict"]
    assert {node.namespace for node in pipeline.nodes} == {domain}
    catalog = DataCatalog.from_config(config["catalog"])
    for name in pipeline.inputs() | pipeline.outputs():
        if name.startswith("params:"):
            owner, section = name.removeprefix("params:").split(".")[:2]
            assert section in config["parameters"][owner], name
        else:
            assert type(catalog.get(name)).__name__ != "MemoryDataset", name
    assert {f"{domain}.irl_inr_model", f"{domain}.new_images"} <= pipeline.inputs()
    validate_parameters({section: config["parameters"][domain][section.split(".")[1]]
                         for section in sections_used(pipeline.datasets())})


def test_kedro_viz_shows_every_node_s_own_file(pipelines):
    """kedro-viz names a node function's file with ``inspect.getfile(node.func)`` (a
    ``functools.partial`` gets none): a node function under a decorator
    (``torch.no_grad()``) would show torch's ``_contextlib.py``."""
    source = (PROJECT_ROOT / "src" / "irl_inr").resolve()
    functions = [node for pipeline in pipelines.values() for node in pipeline.nodes if inspect.isfunction(node.func)]
    elsewhere = sorted({f"{node.name}: {inspect.getfile(node.func)}" for node in functions
                        if source not in Path(inspect.getfile(node.func)).resolve().parents})
    assert len(functions) > 100 and elsewhere == []


def test_the_catalog_s_runtime_parameters_are_known_top_level_names():
    assert runtime_parameter_names(PROJECT_ROOT / "conf") >= {
        "download_mnist", "new_images", "cryo_em_star", "cryo_em_volume", "wm811k_pickle"}


def test_every_parameter_name_of_the_project_s_files_is_known(config):
    check_section_names(config["parameters"], runtime_parameter_names(PROJECT_ROOT / "conf"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trainig": {"config": "paper"}}, "trainig: unknown parameter section (did you mean training?)"),
        ({"mnist_u": {"ingestoin": {"max_images": 50}}},
         "mnist_u.ingestoin: unknown parameter section (did you mean mnist_u.ingestion?)"),
        ({"cryo_em": {"simulaton": {}}}, "cryo_em.simulaton: unknown parameter section (did you mean cryo_em.simulation?)"),
        ({"wm811k_pickel": "x.pkl"}, "wm811k_pickel: unknown parameter section (did you mean wm811k_pickle?)"),
    ],
)
def test_a_misspelt_section_is_named_with_the_closest_known_one(config, changes, message):
    parameters = {**config["parameters"], **changes}
    if "mnist_u" in changes or "cryo_em" in changes:
        (domain,) = set(changes) & set(DOMAINS)
        parameters[domain] = {**config["parameters"][domain], **changes[domain]}
    with pytest.raises(ValueError) as caught:
        check_section_names(parameters, runtime_parameter_names(PROJECT_ROOT / "conf"))
    assert str(caught.value).startswith(message)


def committed_files() -> list[str]:
    """The files under data/ that git keeps (the `!` lines of .gitignore)."""
    lines = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    return [line[2:] for line in lines if line.startswith("!/data/08_reporting/")]


def test_kedro_run_and_dvc_repro_write_every_committed_file_in_the_same_bytes(tmp_path, monkeypatch):
    """`make run` (Kedro's default environment) and `dvc repro` (`--env dvc`) write each
    committed metric and history through the same dataset, so the same values give the
    same bytes and `git status` shows only real changes; their seconds go elsewhere."""
    from kedro.io import DataCatalog
    import pandas as pd

    catalogs = {env: DataCatalog.from_config(settings.CONFIG_LOADER_CLASS(
        str(PROJECT_ROOT / "conf"), **settings.CONFIG_LOADER_ARGS, env=env)["catalog"]) for env in ("local", "dvc")}
    files = committed_files()
    assert len(files) == 22
    written, timed_files = {}, set()
    for env, catalog in catalogs.items():
        monkeypatch.chdir(tmp_path / env if (tmp_path / env).mkdir() is None else tmp_path)
        for file in files:
            domain, name = Path(file).parent.name, Path(file).stem
            # Seconds only where the node writes them: the timings-split datasets.
            timed = type(catalog.get(f"{domain}.{name}")).__name__.startswith("TimingsSplit")
            if timed:
                timed_files.add(file)
            if file.endswith(".csv"):
                seconds = {"train_seconds" if name == "clustering_comparison" else "seconds": [1.5, 2.5]} if timed else {}
                data = pd.DataFrame({"epoch": [1, 2], "total": [0.5, 1 / 3], **seconds})
            else:
                data = {"b": 1 / 3, "a": {"acc": 0.75, **({"train_seconds": 2.5} if timed else {})},
                        **({"seconds": 9.0} if timed else {})}
            catalog.save(f"{domain}.{name}", data)
            written[env, file] = Path(file).read_bytes()
            assert b"seconds" not in written[env, file], file
    assert all(written["local", file] == written["dvc", file] for file in files)
    assert "data/08_reporting/mnist_u/training_history.csv" in timed_files  # the seconds were there to split
