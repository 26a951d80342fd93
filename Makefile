# Two commands from a fresh clone: `make serve` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: serve test install install-dev lint format ingest bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch first and pinned: an unpinned torch pulled in by another package is a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

install: $(STAMP)
install-dev: $(DEV_STAMP)

## Set up, ingest the bundled corpus if the index is empty, and serve on http://127.0.0.1:8000
serve: install
	$(VENV)/bin/fibro serve

## Install dev extras, lint, type-check, and run every test
test: install-dev
	@# The browser tests drive Debian's Chromium (Playwright cannot download one here).
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then echo "installing Chromium for the browser tests (about a minute)"; apt-get update -qq && apt-get install -y -qq chromium; fi
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

ingest: install
	$(VENV)/bin/fibro ingest

bench: install
	$(VENV)/bin/fibro bench ingest --json docs/bench-ingest.json
	$(VENV)/bin/fibro bench answer --json docs/bench-answer.json

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) data .pytest_cache
