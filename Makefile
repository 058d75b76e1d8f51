# The two commands: `make run` (serve the studio on the embedded default) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 9090
DATA_DIR ?= data
PYTEST_ARGS ?=

.PHONY: setup run test services bench

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

test: setup services
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup services
	$(PY) bench/gallery_enqueue.py --write
