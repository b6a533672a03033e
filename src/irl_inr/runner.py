"""``DaskRunner``: every node of a run is a Dask task, ``kedro run
--runner=irl_inr.runner.DaskRunner``.

The cluster is a scheduler at ``address`` or, when there is none, a ``LocalCluster``
started for the run and closed after it.  Settings, first found wins: the runner's
arguments (``--runner-params address=tcp://host:8786,n_workers=4``), the environment
variable ``IRL_INR_DASK_ADDRESS``, then ``conf/dask/cluster.yml`` read by the project's
config loader (``address`` and ``local_cluster``: any ``LocalCluster`` option).

All nodes are submitted at once, each with the futures of the nodes it depends on, so
the scheduler orders them and runs independent nodes side by side.  On its worker a
node gets its own copy of the run's catalog: it loads persistent inputs and saves
persistent outputs through the catalog itself (workers must see the same ``data/``), while
in-memory datasets (outputs not declared in the catalog) are returned by the producing
task and handed by Dask to the tasks that read them, on whichever worker they run.
Node and dataset hooks run on the worker, with the project's hooks (``settings.HOOKS``)
registered there; pipeline hooks (the parameter check) run in the ``kedro run`` process
as with any runner.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloudpickle
from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks, _register_hooks_entry_points
from kedro.framework.project import settings
from kedro.runner import AbstractRunner
from kedro.runner.task import Task

if TYPE_CHECKING:
    from pluggy import PluginManager

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

ADDRESS_VARIABLE = "IRL_INR_DASK_ADDRESS"
LOCAL_CLUSTER_OPTIONS = ("n_workers", "threads_per_worker", "processes", "memory_limit", "dashboard_address")


def cluster_settings(conf_source: str | Path) -> dict[str, Any]:
    """``conf/dask/cluster*.yml`` through the project's config loader: ``{"address": ...,
    "local_cluster": {...}}``, empty when there is no such file."""
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(conf_source),
        base_env="dask",
        default_run_env="dask",
        config_patterns={"dask": ["cluster*", "cluster*/**"]},
    )
    return dict(loader["dask"])


def _is_in_memory(catalog: CatalogProtocol, name: str) -> bool:
    dataset = catalog.get(name, fallback_to_runtime_pattern=True)
    return getattr(dataset, "_EPHEMERAL", False) and not name.startswith("params:")


def _worker_hook_manager(package_name: str | None) -> PluginManager:
    """The project's hooks in this worker: a spawned worker process first configures the
    project (settings, pipelines) as ``kedro run`` did."""
    from kedro.framework import project  # noqa: PLC0415 - reads the worker's current state

    if package_name and project.PACKAGE_NAME != package_name:
        project.configure_project(package_name)
    hook_manager = _create_hook_manager()
    _register_hooks(hook_manager, settings.HOOKS)
    _register_hooks_entry_points(hook_manager, settings.DISABLE_HOOKS_FOR_PLUGINS)
    return hook_manager


def run_node_on_worker(  # noqa: PLR0913 - one Dask task carries all it needs
    node: Node,
    pickled_catalog: bytes,
    package_name: str | None,
    in_memory_outputs: list[str],
    is_async: bool,
    run_id: str | None,
    *upstream: dict[str, Any],
) -> dict[str, Any]:
    """Run ``node`` with its own copy of the catalog; ``upstream`` are the in-memory
    outputs of the nodes it depends on (Dask passes their values).  Returns the node's
    in-memory outputs, for the tasks that read them."""
    catalog = cloudpickle.loads(pickled_catalog)
    for produced in upstream:
        for name, data in produced.items():
            if name in node.inputs:
                catalog.save(name, data)
    Task(
        node=node,
        catalog=catalog,
        is_async=is_async,
        hook_manager=_worker_hook_manager(package_name),
        run_id=run_id,
    ).execute()
    return {name: catalog.load(name) for name in in_memory_outputs}


class DaskRunner(AbstractRunner):
    """Runs a pipeline's nodes as Dask tasks on a scheduler or on a ``LocalCluster``."""

    def __init__(  # noqa: PLR0913 - the cluster's settings, each optional
        self,
        is_async: bool = False,
        address: str | None = None,
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        processes: bool | None = None,
        conf_source: str | None = None,
    ):
        """Args:
        is_async: load and save each node's datasets in threads (as Kedro's runners).
        address: a running Dask scheduler; overrides ``IRL_INR_DASK_ADDRESS`` and
            ``conf/dask/cluster.yml``.
        n_workers, threads_per_worker, processes: ``LocalCluster`` options that override
            ``local_cluster`` in ``conf/dask/cluster.yml``.
        conf_source: the project's configuration folder (default ``conf`` under the
            current directory, where ``kedro run`` runs).
        """
        super().__init__(is_async=is_async)
        self._address = address
        self._cluster_overrides = {
            name: value
            for name, value in (
                ("n_workers", n_workers), ("threads_per_worker", threads_per_worker), ("processes", processes)
            )
            if value is not None
        }
        self._conf_source = Path(conf_source) if conf_source else Path.cwd() / settings.CONF_SOURCE

    def cluster_options(self) -> tuple[str | None, dict[str, Any]]:
        """(scheduler address or None, ``LocalCluster`` options) after the precedence above."""
        configured = cluster_settings(self._conf_source) if (self._conf_source / "dask").is_dir() else {}
        unknown = sorted(set(configured) - {"address", "local_cluster"})
        if unknown:
            raise ValueError(f"{self._conf_source}/dask/cluster.yml: unknown key(s) {unknown}; known: address, local_cluster")
        local = {**(configured.get("local_cluster") or {}), **self._cluster_overrides}
        unknown = sorted(set(local) - set(LOCAL_CLUSTER_OPTIONS))
        if unknown:
            raise ValueError(f"dask local_cluster: unknown option(s) {unknown}; known: {list(LOCAL_CLUSTER_OPTIONS)}")
        address = self._address or os.environ.get(ADDRESS_VARIABLE) or configured.get("address")
        return address, local

    def _get_executor(self, max_workers: int) -> None:
        """Dask's scheduler replaces Kedro's executor pool."""
        return None

    @staticmethod
    def _pickled_catalog(catalog: CatalogProtocol, pipeline: Pipeline) -> bytes:
        """The catalog as the workers get it; a dataset that does not pickle is named."""
        try:
            return cloudpickle.dumps(catalog)
        except Exception as error:
            unpicklable = []
            for name in sorted(pipeline.datasets()):
                try:
                    cloudpickle.dumps(catalog.get(name))
                except Exception:  # noqa: BLE001 - any failure to pickle makes it unusable
                    unpicklable.append(name)
            raise ValueError(
                f"DaskRunner sends the catalog to its workers, but these datasets cannot be pickled: "
                f"{unpicklable or 'none by itself'} ({error}); run them with the SequentialRunner"
            ) from error

    def _run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        from distributed import Client, LocalCluster, as_completed  # noqa: PLC0415 - only this runner needs them

        from kedro.framework.project import PACKAGE_NAME  # noqa: PLC0415 - set by configure_project

        pickled_catalog = self._pickled_catalog(catalog, pipeline)
        address, local = self.cluster_options()
        cluster = None if address else LocalCluster(**local)
        client = Client(address or cluster)
        self._logger.info("Running on %s", client)
        try:
            self._run_on(client, as_completed, pipeline, catalog, pickled_catalog, PACKAGE_NAME, run_id)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def _run_on(  # noqa: PLR0913
        self, client, as_completed, pipeline: Pipeline, catalog: CatalogProtocol, pickled_catalog: bytes,
        package_name: str | None, run_id: str | None,
    ) -> None:
        """Submit every node with its dependencies' futures, then follow them to the end."""
        in_memory = {name for name in pipeline.datasets() if _is_in_memory(catalog, name)}
        dependencies = pipeline.node_dependencies
        load_counts = Counter(name for node in pipeline.nodes for name in node.inputs)
        futures: dict[Node, Any] = {}
        run_token = uuid.uuid4().hex  # a scheduler that outlives the run never confuses two runs' tasks
        for node in pipeline.nodes:  # topologically sorted: dependencies are submitted first
            futures[node] = client.submit(
                run_node_on_worker,
                node,
                pickled_catalog,
                package_name,
                sorted(set(node.outputs) & in_memory),
                self._is_async,
                run_id,
                *(futures[parent] for parent in sorted(dependencies[node], key=lambda n: n.name)),
                key=f"{node.name}-{run_token}",
                pure=False,
            )
        node_of = {future.key: node for node, future in futures.items()}
        done_nodes: set[Node] = set()
        kept_for_outputs = {node: future for node, future in futures.items() if set(node.outputs) & pipeline.outputs()}
        completed = as_completed(futures.values())
        futures.clear()  # the scheduler keeps each result while a task still needs it
        for future in completed:
            node = node_of[future.key]
            try:
                future.result()
            except Exception:  # closing the client in _run cancels the tasks still to run
                self._suggest_resume_scenario(pipeline, done_nodes, catalog)
                raise
            done_nodes.add(node)
            self._logger.info("Completed node: %s", node.name)
            self._logger.info("Completed %d out of %d tasks", len(done_nodes), len(pipeline.nodes))
            self._release_datasets(node, catalog, load_counts, pipeline)
        for node, future in kept_for_outputs.items():
            for name, data in future.result().items():
                if name in pipeline.outputs():
                    catalog.save(name, data)
