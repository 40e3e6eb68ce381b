# Everyday verbs. `make up` runs the whole system on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: up test lint typecheck check bench install web clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund

install: $(VENV)/.installed web/node_modules/.package-lock.json

up: install
	$(BIN)/grid-dispatch up

test: install
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check dispatch workers tests bench
	$(BIN)/ruff format --check dispatch workers tests bench

typecheck: $(VENV)/.installed
	$(BIN)/mypy

check: lint typecheck test

bench: $(VENV)/.installed
	$(BIN)/python -m bench.locator
	$(BIN)/python -m bench.intake
	$(BIN)/python -m bench.grid_import
	$(BIN)/python -m bench.run --quick --mode all

clean:
	rm -rf data .pytest_cache .mypy_cache .ruff_cache
