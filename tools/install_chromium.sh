#!/usr/bin/env bash
# Install headless Chromium (Debian package `chromium`) for the browser tests
# (tests/e2e/test_kedro_viz.py, tests/reporting/). Idempotent: does nothing when
# `chromium` is already on PATH. Needs root (or sudo) and a Debian/Ubuntu apt mirror.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "install_chromium: $(command -v chromium) is already installed ($(chromium --version 2>/dev/null || echo 'version unknown')); nothing to do"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium: chromium is missing and apt-get is not available; install Chromium with your system's package manager" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_chromium: chromium is missing and installing it needs root (no sudo found)" >&2
        exit 1
    fi
fi

start=$(date +%s)
echo "install_chromium: chromium not found; running apt-get update and apt-get install -y chromium"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
echo "install_chromium: installed $(chromium --version) in $(( $(date +%s) - start )) s"
