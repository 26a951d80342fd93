# Two commands from a fresh clone: `make serve` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: serve test install install-dev lint format ingest bench clean

# torch comes first, pinned, and by default from the PyTorch CPU wheel index (about 200 MB instead
# of the multi-GB CUDA build with its NVIDIA packages). Where that index cannot be reached within a
# few seconds, the ordinary index is used. For the GPU build on purpose: TORCH_INDEX_URL= (empty:
# the ordinary index) or TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 (see README).
TORCH_VERSION := 2.13.0
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu
# Exit 0 when $(TORCH_INDEX_URL) answers within 5 s; python rather than curl, which may be missing.
TORCH_INDEX_PROBE = $(PY) -c "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='HEAD'), timeout=5)" "$(TORCH_INDEX_URL)/torch/" >/dev/null 2>&1

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	@echo "first run: creating $(VENV) and installing torch, the embedding model and the service's dependencies (a couple of minutes; later runs start at once)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	@if [ -n "$(TORCH_INDEX_URL)" ] && $(TORCH_INDEX_PROBE); then \
		echo "installing torch $(TORCH_VERSION) from $(TORCH_INDEX_URL) (about a minute)"; \
		$(PY) -m pip install --quiet torch==$(TORCH_VERSION) --index-url "$(TORCH_INDEX_URL)" \
			|| { echo "that failed: using the ordinary package index"; $(PY) -m pip install --quiet torch==$(TORCH_VERSION); }; \
	else \
		[ -z "$(TORCH_INDEX_URL)" ] || echo "$(TORCH_INDEX_URL) is not reachable: using the ordinary package index"; \
		echo "installing torch $(TORCH_VERSION) (about a minute)"; \
		$(PY) -m pip install --quiet torch==$(TORCH_VERSION); \
	fi
	@echo "installing fibro-assistant and its dependencies (under a minute)"
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): pyproject.toml $(STAMP)
	@echo "installing the dev extras: pytest, ruff, mypy, playwright (under a minute)"
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
	@# The shared-state tests start Debian's redis-server on loopback.
	@if ! command -v redis-server >/dev/null && [ "$$(id -u)" = 0 ]; then echo "installing redis-server for the multi-worker tests"; apt-get update -qq && apt-get install -y -qq redis-server; fi
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
