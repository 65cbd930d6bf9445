# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/ally: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/ally

.PHONY: install run test lint
install: $(BIN)/ally

# The main job: simulate a demo practice, analyse it and print the summary.
run: install
	$(BIN)/ally simulate --out ally-demo --episodes 300 --seed 1 --quiet
	$(BIN)/ally analyze ally-demo/sessions.csv --out ally-output

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest
