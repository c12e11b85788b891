# Set-up and the README's two commands. Everything installs into .venv from the package registry.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test test-all bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra set, remade when pyproject.toml changes.
$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@
$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@
$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

setup: $(VENV)/.core

## (1) set up and run the main job on its built-in default
demo: $(VENV)/.core
	$(BIN)/rankwise demo

## (2) set up and pass the tests (what .ci/run runs); the real collections are read from ../shared/data when present
test: $(VENV)/.test
	$(BIN)/python -m pytest -q -m "not slow"

## everything, slow collection-scale tests included
test-all: $(VENV)/.test
	$(BIN)/python -m pytest -q

## speed against the alternatives, measured in the same run
bench: $(VENV)/.bench
	$(BIN)/python benchmarks/bench_bm25.py
	$(BIN)/python benchmarks/bench_evaluate.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
