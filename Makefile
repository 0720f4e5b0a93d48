# Signalhub — `make run` starts the platform, `make test` runs the whole suite. Both set themselves up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup run test lint fmt migrate train-model bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --python "$(PYTHON)"
	@touch $@

setup: $(VENV)/.synced  ## create the venv and install exactly what uv.lock pins

run: setup  ## migrate, then run API (:8000), Celery worker and beat on embedded defaults; Ctrl-C stops all
	$(BIN)/signalhub run

test: setup  ## lint, then run the whole test suite (SQLite by default; DATABASE_URL/REDIS_URL for PostgreSQL/Redis)
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup  ## ruff
	$(BIN)/ruff check .

fmt: setup  ## apply ruff's safe fixes
	$(BIN)/ruff check --fix .

migrate: setup  ## upgrade the database to the newest migration
	$(BIN)/signalhub migrate

train-model: setup  ## retrain the model server's model on the bundled history (walk-forward validated)
	$(BIN)/signalhub train-model

bench: setup  ## run every benchmark (prints ratios against its reference)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:  ## remove the venvs and local state
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .ruff_cache
