"""Headless Chromium for the browser tests. CI installs it (``tools/install_chromium.sh``);
where it is missing the tests fail saying how to install it, unless
``IRL_INR_SKIP_BROWSER_TESTS=1`` asks to skip them."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SKIP_VARIABLE = "IRL_INR_SKIP_BROWSER_TESTS"


def chromium() -> str:
    """The Chromium executable, or a failed (or, when asked, skipped) test."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = "Chromium is not installed (no `chromium` on PATH)"
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{message}; skipped because {SKIP_VARIABLE}=1")
    pytest.fail(
        f"{message}: install it with `sudo tools/install_chromium.sh` (Debian/Ubuntu: apt-get install -y chromium), "
        f"or set {SKIP_VARIABLE}=1 to skip the browser tests"
    )


def run_chromium(profile: Path, *arguments: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Headless Chromium with a throw-away profile, no GPU, no background network."""
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *arguments,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def screenshot_pixels(png: Path) -> np.ndarray:
    """The RGB pixels (n, 3) of a screenshot."""
    return np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 at a free port, in a thread; yields its URL."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
