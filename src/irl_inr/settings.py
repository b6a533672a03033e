"""Project settings: the config loader that lays each domain's parameters over the stage
defaults (``irl_inr.config``), and the hook that checks parameters before a run."""

from irl_inr.config import ProjectConfigLoader
from irl_inr.hooks import ParameterValidationHooks

HOOKS = (ParameterValidationHooks(),)

CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/local/parameters.yml changes single keys instead of replacing whole sections.
    "merge_strategy": {"parameters": "soft"},
}
