"""Project settings: Kedro defaults plus the hook that checks parameters before a run."""

from irl_inr.hooks import ParameterValidationHooks

HOOKS = (ParameterValidationHooks(),)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
