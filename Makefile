PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install run test test-fast e2e lint format clean

# tfx/ml-pipelines-sdk 1.16 declare Requires-Python <3.11 but are pure Python: see docs/design.md.
$(STAMP): requirements.txt requirements-nodeps.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --ignore-requires-python -r requirements.txt
	$(PY) -m pip install --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) local_runner.py run $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q --durations=15 $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not e2e" $(ARGS)

e2e: $(STAMP)
	$(PY) -m pytest -q -m e2e $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf outputs .pytest_cache
