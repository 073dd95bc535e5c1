# One command each: `make train` sets up and runs the main example, `make test` sets up and
# runs the whole test suite. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup train test lint benchmark clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

train: setup
	$(BIN)/toolkit train configs/regression.yaml

# Two processes: the tests spend much of their time starting TensorFlow in subprocesses, so
# two workers keep both cores busy. A file's tests stay on one worker (--dist loadfile, so
# they share its module-scoped trained runs), the longest files first (tests/file_order.py;
# --no-loadscope-reorder keeps that order). The 20 slowest tests are listed at the end.
TEST_WORKERS ?= 2

test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=20

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

benchmark: setup
	$(BIN)/python -m pip install --quiet -e ".[test,benchmark]"
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/bayesian.py

clean:
	rm -rf $(VENV) build *.egg-info
