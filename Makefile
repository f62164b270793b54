# Two commands: `make demo` and `make test`. Each creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch/torchvision pinned to the pair this workplace serves from local disk (see README).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench bench-accuracy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH_PINS) || $(BIN)/pip install --quiet torch torchvision
	$(BIN)/pip install --quiet -e ".[onnx,pretrained,dev]" -e ./edge
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/segcompress demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not own_process"
	$(BIN)/python -m pytest -q -p no:xdist -m own_process

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP)
	for b in data synth models train deploy memory kill; do \
		$(BIN)/python benchmarks/bench_$$b.py || exit 1; done

# Accuracy suites behind BENCHMARKS.md: IDD-Lite (about 2.5 hours on 2 cores; needs
# ../shared/datasets/idd20k_lite or DATA=...) and the synthetic 26-class set (about 15 minutes).
DATA ?= ../shared/datasets/idd20k_lite
bench-accuracy: $(STAMP)
	$(BIN)/python benchmarks/bench_idd_lite.py --data $(DATA)
	$(BIN)/python benchmarks/bench_kd_synthetic.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
