# The two commands: `make run` (serve the studio on the embedded default) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 9090
DATA_DIR ?= data
PYTEST_ARGS ?=

APP := frontend-overrides/app

.PHONY: setup run test services bench frontend

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

run: setup
	$(VENV)/bin/pingvas serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

services:
	bash scripts/ensure-services.sh

# The account app's packages, for its tests, Storybook and rebuilds. `make run` needs none of
# them: the built app is committed (tests/test_frontend_app.py checks it matches its sources).
frontend: $(APP)/node_modules/.installed

$(APP)/node_modules/.installed: $(APP)/package-lock.json
	cd $(APP) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: setup services frontend
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup services
	$(PY) bench/gallery_enqueue.py --write
