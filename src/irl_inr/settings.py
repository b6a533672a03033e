"""Project settings: the config loader that lays each domain's parameters over the stage
defaults (``irl_inr.config``), the hook that checks a run before it writes (parameters
before the first node, the images as soon as their table exists: ``irl_inr.hooks``), the
hook that lets only rank 0 write when a run is launched by torchrun (DDP training), and
the console (irl_inr.console): known harmless library warnings hidden for every command,
an expected user error shown as one ERROR line."""

from irl_inr.config import ProjectConfigLoader
from irl_inr.console import hide_harmless_warnings
from irl_inr.hooks import ConsoleHooks, RunCheckHooks
from irl_inr.training.kedro_hooks import RankZeroSavesHooks

hide_harmless_warnings()

HOOKS = (ConsoleHooks(), RunCheckHooks(), RankZeroSavesHooks())

CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/local/parameters.yml changes single keys instead of replacing whole sections.
    "merge_strategy": {"parameters": "soft"},
}
