# Two commands on a fresh machine:
#   make demo   installs auvid and analyses a real clip from ../shared/data
#   make test   installs auvid with its test extras and runs the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ../shared/data
export AUVID_MODELS_DIR ?= $(abspath $(DATA)/models)

.PHONY: install install-dev demo test test-fast bench bench-full train clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

demo: install
	mkdir -p out
	$(BIN)/auvid process $(DATA)/videos/2015-10-15-15-14.avi --out out/demo.csv --overlay out/demo.mp4
	$(BIN)/auvid plot out/demo.csv --out out/demo.png --aus AU01,AU02,AU04,AU06,AU12,AU25,AU45

test: install-dev
	$(BIN)/python -m pytest -q

test-fast: install-dev
	$(BIN)/python -m pytest -q -m "not slow"

bench: install-dev
	$(BIN)/python -m benchmarks --quick

bench-full: install-dev
	$(BIN)/python -m benchmarks --out benchmarks/results/latest.json
	$(BIN)/python -m benchmarks.report benchmarks/results/latest.json > benchmarks/README.md

train: install-dev
	$(BIN)/auvid train --config trainer/configs/default.yaml

clean:
	rm -rf $(VENV) out cache runs .pytest_cache
