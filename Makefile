# The two commands: `make run` (serve the studio on the embedded default) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 9090
DATA_DIR ?= data
PYTEST_ARGS ?=

APP := frontend-overrides/app
# Python 3.12, the seed's laptops' Python: the first 3.12 interpreter on PATH or under pyenv.
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && { command -v "$$p"; break; }; done)
VENV312 ?= .venv-py312

.PHONY: setup run test services bench frontend py312 macos-lock cluster diagrams

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

run: setup
	PINGVAS_PUBLIC_URL="$${PINGVAS_PUBLIC_URL:-http://$(HOST):$(PORT)}" $(VENV)/bin/pingvas serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

services:
	bash scripts/ensure-services.sh

# Many pods on this machine, as production runs them (scripts/dev_cluster.py): Nginx on HOST:PORT in front of
# two API pods and two workers, Postgres, Redis and a SeaweedFS S3 server; data and logs in .dev-cluster/.
# Ctrl-C stops it all. No `frontend`: the built account app is committed.
cluster: setup services
	$(PY) -m scripts.dev_cluster --host $(HOST) --port $(PORT)

# The account app's packages, for its tests, Storybook and rebuilds. `make run` needs none of
# them: the built app is committed (tests/test_frontend_app.py checks it matches its sources).
frontend: $(APP)/node_modules/.installed

$(APP)/node_modules/.installed: $(APP)/package-lock.json
	cd $(APP) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# docs/diagrams/: the AWS architecture as .mmd, .drawio and .svg from aws-architecture.yaml (tests/test_diagrams.py
# fails when they differ from what the source generates).
diagrams: setup
	$(PY) docs/diagrams/generate.py

test: setup services frontend
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup services
	$(PY) bench/gallery_enqueue.py --write

# Python 3.12: its own venv with the project installed, then a smoke test (the tutorial end to end,
# the tiny model, the platform checks). Its first run downloads torch for 3.12 (several GB); CI does
# not run it. The README says when it last passed.
py312: services
	@test -n "$(PYTHON312)" || { echo "no Python 3.12 found: make py312 PYTHON312=/path/to/python3.12"; exit 1; }
	test -x $(VENV312)/bin/python || $(PYTHON312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install --quiet --upgrade pip
	$(VENV312)/bin/python -m pip install --quiet -e '.[test]'
	$(VENV312)/bin/python -m pytest -q -p no:cacheprovider tests/test_tutorial.py tests/test_tiny_model.py tests/test_platforms.py

# The whole project resolved for Apple Silicon on Python 3.12, by uv (which evaluates markers for the
# target platform); tests/test_platforms.py checks it against pyproject.toml and InvokeAI offline.
macos-lock: setup
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --no-config --quiet \
		--python-platform aarch64-apple-darwin --python-version 3.12 \
		--custom-compile-command "make macos-lock" -o requirements/macos-arm64-py312.txt
