# `make demo` and `make test` each set up .venv (the six distributions, editable) and run.
# `make test` also runs the suite in .venv-floors, which holds the oldest version of every
# runtime dependency that the six pyproject.toml files declare (`make floors` runs only that).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DIST_DIRS := tn_core tn_layers_dense tn_layers_conv tn_layers_recurrent tn_distributed tn_accel
PYPROJECTS := $(DIST_DIRS:%=%/pyproject.toml)
# tn-core with its [plot] extra, so the demo also draws the seed's weights picture, and its [h5] extra, so
# tests/core checks the converter of the original library's HDF5 weights files; tn-distributed brings
# mpi4py and MPICH's mpiexec into the venv (tests/distributed runs mpiexec -n 2); tn-accel brings numba, so
# the suite trains through its fused optimizer kernels and tests/accel compares them with the NumPy path
DISTS := './tn_core[plot,h5]' ./tn_layers_dense ./tn_layers_conv ./tn_layers_recurrent ./tn_distributed ./tn_accel
STAMP := $(VENV)/.installed

FLOORS_VENV ?= .venv-floors
FLOORS_BIN := $(FLOORS_VENV)/bin
FLOORS_STAMP := $(FLOORS_VENV)/.installed
# tests/packaging builds its own environments from .venv's versions; counting instructions under valgrind
# (40 s) tests the benchmark tool, not the dependencies, so it runs once
FLOORS_PYTEST_ARGS := --ignore=tests/packaging \
	--deselect tests/benchmarks/test_instructions.py::test_callgrind_counts_a_child_run

.PHONY: demo test floors lint bench clean

$(STAMP): $(PYPROJECTS) requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(foreach d,$(DISTS),-e $(d)) -r requirements-dev.txt
	touch $(STAMP)

# Prints, as pip requirement lines, the floor (the `>=` version) of every third-party runtime
# dependency of the installed distributions (extras, such as [plot], are not runtime dependencies).
# A dependency without a floor, or with different floors in two distributions, is an error:
# the floors environment holds one version of each, and every declared floor is to be tested.
define FLOORS_PY
import re, sys
from importlib.metadata import requires
ours = ("tn-core", "tn-layers-dense", "tn-layers-conv", "tn-layers-recurrent", "tn-distributed", "tn-accel")
floors = {}
for dist in ours:
    for req in requires(dist) or ():
        spec, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        name = re.match(r"[A-Za-z0-9._-]+", spec)[0].lower().replace("_", "-")
        if name in ours:
            continue
        low = re.search(r">=\s*([\w.]+)", spec)
        if low is None:
            sys.exit(f"{dist} requires {req!r} without a floor (>=)")
        line = f"{name}=={low[1]}" + (f" ;{marker}" if marker else "")
        seen, by = floors.setdefault(name, (line, f"{dist} requires {req!r}"))
        if seen != line:
            sys.exit(f"different floors: {by}, {dist} requires {req!r}; declare one floor")
print("\n".join(line for line, _ in floors.values()))
endef
export FLOORS_PY

# .venv's pip installs into it (it has none of its own); the distributions go in first, without
# their dependencies (built here, by the newest setuptools, as their build-system asks); then the
# floors, pinned (as requirements and as constraints, so that no test tool can upgrade them), from
# wheels, with the test tools; `pip check` then confirms that every requirement holds.
FLOORS_PIP := $(BIN)/python -m pip --python $(FLOORS_BIN)/python

$(FLOORS_STAMP): $(PYPROJECTS) requirements-dev.txt | $(STAMP)
	rm -rf $(FLOORS_VENV)
	$(PYTHON) -m venv --without-pip $(FLOORS_VENV)
	$(FLOORS_PIP) install --quiet setuptools
	$(FLOORS_PIP) install --quiet --no-deps --no-build-isolation $(foreach d,$(DIST_DIRS),-e ./$(d))
	$(FLOORS_BIN)/python -c "$$FLOORS_PY" > $(FLOORS_VENV)/floors.txt
	$(FLOORS_PIP) install --quiet --only-binary=:all: \
		-c $(FLOORS_VENV)/floors.txt -r $(FLOORS_VENV)/floors.txt -r requirements-dev.txt
	$(FLOORS_PIP) check
	touch $(FLOORS_STAMP)

demo: $(STAMP)
	$(BIN)/tn demo --out out

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest
	@$(MAKE) --no-print-directory floors

floors: $(FLOORS_STAMP)
	@echo "== the test suite at the declared floors:" $$(cat $(FLOORS_VENV)/floors.txt)
	$(FLOORS_BIN)/python -m pytest $(FLOORS_PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run all

clean:
	rm -rf $(VENV) $(FLOORS_VENV)
