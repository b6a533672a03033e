# Two entry points a newcomer needs: `make run` and `make test`. Each creates the
# virtual environment from the pinned lock file first if it is missing or stale.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install browser run test test-kernels dvc-remote repro viz clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Headless Chromium for the browser tests (the HTML report, kedro-viz's site): Debian's
# package, installed once with apt-get when missing.
browser:
	bash tools/install_chromium.sh

run: install
	$(BIN)/kedro run

test: install browser
	$(BIN)/python -m pytest

# The tests that assert a learned quality, with the portable (non-SIMD) kernels and with
# 1 and 2 threads: their margins must hold on any CPU, not only this one.
test-kernels: install
	ATEN_CPU_CAPABILITY=default IRL_INR_TEST_THREADS=1 $(BIN)/python -m pytest -q -m "learned and not e2e"
	ATEN_CPU_CAPABILITY=default IRL_INR_TEST_THREADS=2 $(BIN)/python -m pytest -q -m "learned and not e2e"

# DVC's remote on this machine: the git-ignored folder .dvc-storage/, set as the default
# remote in .dvc/config.local (not committed). Another remote: see README, "add your remote".
dvc-remote: install
	mkdir -p .dvc-storage
	$(BIN)/dvc remote add --local --default --force local .dvc-storage

repro: install dvc-remote
	$(BIN)/dvc repro

# kedro-viz's static site in build/, with previews, its file paths made relative to the
# project (kedro-viz writes them absolute) so that the build can be published.
viz: install
	$(BIN)/kedro viz build --include-previews
	$(BIN)/python -m irl_inr.reporting.viz_build build

clean-venv:
	rm -rf $(VENV)
