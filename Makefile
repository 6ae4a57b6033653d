# One virtual environment, made from pyproject.toml, serves every target.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# full on a CUDA machine, quick otherwise (override: make reproduce PROFILE=quick)
PROFILE ?=
JOBS   ?= 2

.PHONY: setup test reproduce figures bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -q

reproduce: $(STAMP)
	$(BIN)/python -m reproduce study $(if $(PROFILE),--profile $(PROFILE),)

figures: $(STAMP)
	$(BIN)/python -m reproduce figures

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

lint: $(STAMP)
	$(BIN)/ruff check reproduce tests benchmarks figures

clean:
	rm -rf $(VENV) .pytest_cache
