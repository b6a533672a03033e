"""Project settings: Kedro defaults, the hook that checks parameters before a run, and
the ``merge`` resolver with which a domain lays its differences over the stage defaults
(``training: ${merge:${training},${_wm811k.training}}``)."""

from omegaconf import OmegaConf

from irl_inr.hooks import ParameterValidationHooks

HOOKS = (ParameterValidationHooks(),)


def merge_configs(*configs):
    """Later mappings override earlier ones key by key; lists are replaced whole."""
    return OmegaConf.merge(*configs)


CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"merge": merge_configs},
    # conf/local/parameters.yml changes single keys (`mnist_u: {training: {config: paper}}`)
    # instead of replacing whole sections. Interpolations resolve within each
    # environment, so a local change to a stage default (`training:`) does not reach the
    # domains: change the domain's section, or use `kedro run --params training.x=...`.
    "merge_strategy": {"parameters": "soft"},
}
