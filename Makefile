PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install run test test-fast e2e lint format clean mutation figures-check

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

# One xdist worker per core of the 2-core machines the suite is sized for; tests/conftest.py
# groups the tests so that each pipeline-running fixture runs once (docs/testing.md).
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=15 $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not e2e" $(ARGS)

e2e: $(STAMP)
	$(PY) -m pytest -q -m e2e $(ARGS)

# A mutation check of the deciding modules (docs/testing.md); not part of `make test` or CI.
# mutmut and its own dependencies go to a folder of their own, beside the project's venv.
MUTMUT_PKGS := .cache/mutmut-pkgs
MUTMUT_REQS := mutmut==3.8.1 libcst==1.9.0 textual==8.2.8 setproctitle==1.3.8 coverage==7.18.0 \
	mdit-py-plugins==0.7.0 linkify-it-py==2.2.0 uc-micro-py==2.0.0

$(MUTMUT_PKGS)/.installed:
	$(PY) -m pip install --quiet --no-deps --target $(MUTMUT_PKGS) $(MUTMUT_REQS)
	touch $@

mutation: $(STAMP) $(MUTMUT_PKGS)/.installed
	PYTHONPATH=$(CURDIR)/$(MUTMUT_PKGS) OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \
		$(PY) bench/mutation.py $(ARGS)

# Each number the docs quote from bench/results/ is in the results file its marker names
# (bench/check_figures.py, docs/testing.md); also run by tests/test_figures.py.
figures-check: $(STAMP)
	$(PY) bench/check_figures.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf outputs .pytest_cache mutants
