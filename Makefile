SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The quickstart keeps its catalog and artifacts here unless FLOE_HOME is already set.
FLOE_HOME ?= $(CURDIR)/.floe-quickstart
PYTEST_ARGS ?=

# Re-install when the metadata or pins change, or when a top-level package appears
# (the editable install maps only the packages that existed when it ran).
PKG_MARKERS := $(wildcard registry/__init__.py pipelines/__init__.py serve/__init__.py)

.PHONY: help venv .venv run lint typecheck test clean

help: ## list the targets
	@echo "Floe make targets:"
	@grep -E '^[a-z][a-zA-Z_. -]*:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'

venv .venv: $(STAMP) ## create .venv and install Floe with the dev and all extras

$(STAMP): pyproject.toml constraints.txt $(PKG_MARKERS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e ".[dev,all]"
	touch $@

run: $(STAMP) ## run the quickstart (SQLite catalog, local artifacts under FLOE_HOME)
	FLOE_HOME="$(FLOE_HOME)" $(BIN)/python examples/quickstart.py

lint: $(STAMP) ## ruff and the import contract
	$(BIN)/ruff check .
	$(BIN)/python tools/lint_imports.py

typecheck: $(STAMP) ## mypy --strict (pyproject.toml) on registry, pipelines and serve
	$(BIN)/mypy -p registry -p pipelines -p serve

test: $(STAMP) lint typecheck ## lint, mypy, then the whole test suite (extra flags: PYTEST_ARGS=...)
	@echo "$(BIN)/python -m pytest $(PYTEST_ARGS)"
	@$(BIN)/python -m pytest $(PYTEST_ARGS) || { status=$$?; \
		if [[ $$status -eq 5 ]]; then \
			echo "error: pytest collected no tests (exit 5); the suite is missing or every test was deselected" >&2; \
		fi; exit $$status; }

clean: ## remove the venv, caches, build outputs and quickstart data
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache .floe-quickstart
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
