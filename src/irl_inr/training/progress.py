"""A training run's progress on the console: a bar redrawn in place where stderr is a
terminal; where it is a file or a pipe (``make run > run.log 2>&1``, CI) no bar at all,
since its redraws would pile up into one long line, and the log's one line per epoch
(``epoch 3/12 (step 117, 41.2s): ...``, from :mod:`.loop`) says the same."""

from __future__ import annotations

import sys
from typing import IO

from tqdm.auto import tqdm


def is_terminal(stream: IO | None) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes, closed streams)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def draws_progress_bars() -> bool:
    """Whether a run draws progress bars: only where stderr, tqdm's stream, is a terminal."""
    return is_terminal(sys.stderr)


def progress_bar(total: int, initial: int, enabled: bool) -> tqdm:
    """tqdm's bar over ``total`` steps from ``initial``, drawn only when ``enabled`` and
    stderr is a terminal (a disabled bar accepts the same calls and draws nothing)."""
    return tqdm(total=total, initial=initial, disable=not (enabled and draws_progress_bars()), unit="step",
                dynamic_ncols=True)
