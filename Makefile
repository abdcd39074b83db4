# `make demo` and `make test` each set up .venv (the four distributions, editable) and run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# tn-core with its [plot] extra, so the demo also draws the seed's weights picture
DISTS := './tn_core[plot]' ./tn_layers_dense ./tn_layers_conv ./tn_layers_recurrent
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): tn_core/pyproject.toml tn_layers_dense/pyproject.toml tn_layers_conv/pyproject.toml tn_layers_recurrent/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(foreach d,$(DISTS),-e $(d)) -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tn demo --out out

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run all

clean:
	rm -rf $(VENV)
