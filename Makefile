# PhysForge: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# CPU wheel of torch; pip finds it on local disk on the dev machines. A bare `torch`
# requirement would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: demo test install lint format clean bench

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/physforge demo

test: $(STAMP)
	$(PY) -m pytest -q tests

# ruff (config in pyproject.toml), mypy on the package, and the import-cycle check
lint: $(STAMP)
	$(VENV)/bin/ruff check physforge tests benchmarks tools
	$(VENV)/bin/ruff format --check physforge tests benchmarks tools
	$(VENV)/bin/mypy
	$(PY) tools/import_graph.py physforge

format: $(STAMP)
	$(VENV)/bin/ruff format physforge tests benchmarks tools
	$(VENV)/bin/ruff check --fix physforge tests benchmarks tools

clean:
	rm -rf $(VENV) physforge-store .pytest_cache
