"""What a run prints: at the default level, which node runs, its progress bar and what it
decided or measured; Kedro's per-dataset lines, library chatter and known harmless
warnings are kept back. ``IRL_INR_VERBOSE=1`` brings all of it back.

An expected user error ends the run with one ``ERROR`` line that names the parameter or
file and says what to do: a bad parameter, parameters that do not fit the images (the
data checks), a file that is missing or unreadable, a checkpoint that cannot be resumed
(naming the ``checkpoint_dir`` parameter to change), or a ``ValueError`` of a front-end
node about the data it reads (naming the node). Its traceback is printed only with
``IRL_INR_VERBOSE=1``. Any other error keeps its full traceback."""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from kedro.io.core import DatasetError

from irl_inr.training.checkpoint import CheckpointError
from irl_inr.training.progress import draws_progress_bars, is_terminal

VERBOSE_VARIABLE = "IRL_INR_VERBOSE"
# Known harmless warnings of the libraries (message start), hidden unless verbose: torch
# scripting inside torch.func, and kedro-viz's use of a FastAPI response class.
HARMLESS_WARNINGS = ("`torch.jit.script` is deprecated", "ORJSONResponse is deprecated")

logger = logging.getLogger("irl_inr")


def verbose() -> bool:
    return os.environ.get(VERBOSE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


class ParameterError(ValueError):
    """A parameter that fails its check (raised by the parameter hook before any node runs)."""


class DataCheckError(ParameterError):
    """Parameters that do not fit the images (raised by the data checks before anything is
    trained on them): too few images for a batch size, labels that do not fit."""


# The attribute by which a node's error carries the node (set by the console hook).
_NODE = "irl_inr_node"
# Sections whose checkpoint_dir names where a node's training checkpoints go.
_CHECKPOINT_SECTIONS = ("training", "clustering", "interpretation")
_FRONT_END_STAGES = ("ingestion", "augmentation")


def remember_node(error: BaseException, node) -> None:
    """Let ``error`` carry the node it was raised in: its name, whether it is a front-end
    node, and the ``checkpoint_dir`` parameter of its section, if it has one."""
    sections = [name.removeprefix("params:") for name in node.inputs if name.startswith("params:")]
    checkpoint = [f"{section}.checkpoint_dir" for section in sections
                  if section.rpartition(".")[2] in _CHECKPOINT_SECTIONS]
    setattr(error, _NODE, {
        "name": node.name,
        "front_end": bool(set(node.tags) & set(_FRONT_END_STAGES)),
        "checkpoint_dir": checkpoint[0] if checkpoint else None,
    })


# Loggers that conf/logging.yml sets above INFO (Kedro's per-dataset "Loading data from
# ..." / "Saving data to ...", its start-up notes, kedro-viz's note on where it wrote the
# run's events and its warning that a partial run is not tracked, and faiss's probing of
# CPU features); verbose sets them back to INFO.
QUIET_LOGGERS = (
    "kedro.io", "kedro.framework", "kedro.validation", "kedro_viz", "kedro_viz.integrations.kedro.run_hooks", "faiss",
)
# Messages kept back from the console unless verbose: "Completed node: x" (the "Completed
# n out of m tasks" line that follows says the same), the runner's note on async mode, and
# Kedro's "Node x failed with error: ..." (an expected error gets its one line, any other
# its traceback, which holds the same message).
QUIET_MESSAGES = ("Completed node:", "Using synchronous mode", "Node %s failed with error")
# The training loop's line per epoch: kept back from a terminal that shows the progress
# bar (its means are the same; every epoch's losses are in the stage's *_history.csv and
# the report), written everywhere else (a log file, CI), where no bar is drawn.
EPOCH_LINE = "epoch %d/%d (step"


class QuietConsole(logging.Filter):
    """Drops the records whose message starts with one of ``messages``."""

    def __init__(self, messages: Sequence[str] = QUIET_MESSAGES) -> None:
        super().__init__()
        self.messages = tuple(messages)

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.messages)


def quiet_messages(handler: logging.Handler) -> tuple[str, ...]:
    """What ``handler`` keeps back: also the line per epoch where it writes to the terminal
    on which the progress bars are drawn."""
    on_bar_terminal = draws_progress_bars() and is_terminal(getattr(handler, "stream", None))
    return (*QUIET_MESSAGES, EPOCH_LINE) if on_bar_terminal else QUIET_MESSAGES


def configure_console() -> None:
    """Verbose: the :data:`QUIET_LOGGERS` back at INFO. Otherwise: :class:`QuietConsole`
    on the root logger's handlers and the known harmless warnings ignored."""
    if verbose():
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
        return
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, QuietConsole) for existing in handler.filters):
            handler.addFilter(QuietConsole(quiet_messages(handler)))
    hide_harmless_warnings()


def hide_harmless_warnings() -> None:
    """Ignore the :data:`HARMLESS_WARNINGS` unless verbose (``settings.py`` calls this, so
    it holds for every Kedro command of the project: run, viz, ...)."""
    if not verbose():
        for message in HARMLESS_WARNINGS:
            warnings.filterwarnings("ignore", message=re.escape(message))


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def user_error_message(error: BaseException) -> str | None:
    """One line for an expected user error (a :class:`ParameterError` or a dataset that
    cannot be read or written anywhere in the chain), ``None`` for any other error."""
    where = "Change it in conf/base/parameters_*.yml, conf/local/parameters.yml or with --params <name>=<value>."
    for link in _chain(error):
        if isinstance(link, DataCheckError):
            return f"The images do not fit the parameters: {link}. {where.replace('Change it', 'Change them')}"
        if isinstance(link, ParameterError):
            return f"Bad parameter: {link}. {where}"
    node = getattr(error, _NODE, None)
    for link in _chain(error):
        if isinstance(link, CheckpointError):
            parameter = (node or {}).get("checkpoint_dir") or "the stage's checkpoint_dir parameter"
            text = str(link).replace("the stage's checkpoint_dir parameter", parameter)
            return f"Training cannot resume its checkpoint{_in_node(node)}: {text}"
    if node and node["front_end"] and isinstance(error, ValueError):
        return (f"The data cannot be used{_in_node(node)}: {str(error).rstrip('.')}. Correct the file or the "
                "parameter it names.")
    for link in _chain(error):
        if isinstance(link, DatasetError):
            text = str(link).replace(f"{Path.cwd()}/", "")  # paths relative to the project
            match = re.search(r"(?:filepath|path)=([^,)]+)", text)
            file = f" {match[1]}" if match else ""
            # The last line is the innermost cause's message (Kedro prepends its own).
            reason = text.strip().splitlines()[-1].rstrip(".") + "."
            missing = "No such file" in text or "does not exist" in text or isinstance(link.__cause__, FileNotFoundError)
            advice = (
                "Run the stage that writes it first (e.g. kedro run --pipelines <domain>) or point the catalog entry "
                "(conf/base/catalog*.yml, conf/local/catalog.yml) at an existing file."
                if missing else "Check that the file is complete and in the format its catalog entry names."
            )
            return f"Could not read or write the data{file}: {reason} {advice}"
    return None


def _in_node(node: dict | None) -> str:
    return f" (node {node['name']})" if node else ""


def report_error(error: BaseException, stream=None) -> bool:
    """Present ``error``: for an expected user error one ``ERROR`` log line (after the
    traceback when verbose) and ``True``; ``False`` for anything else (untouched)."""
    message = user_error_message(error)
    if message is None:
        return False
    if verbose():
        traceback.print_exception(error, file=stream or sys.stderr)
    else:
        message += f" (Set {VERBOSE_VARIABLE}=1 for the traceback.)"
    logger.error(message)
    return True


def install_excepthook() -> None:
    """Route uncaught exceptions through :func:`report_error`; others keep Python's traceback."""
    previous = sys.excepthook

    def hook(kind, error, trace):
        if not report_error(error):
            previous(kind, error, trace)

    sys.excepthook = hook
