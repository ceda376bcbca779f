# The marketplace's everyday commands. Everything runs inside .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PSYCOPG_WAIT_FUNC := wait_selector
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install test test-unit test-reliability lint format bench run migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools<81'

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

test: install
	$(BIN)/pytest -q

test-unit: install
	$(BIN)/pytest -q tests/unit

test-reliability: install
	$(BIN)/pytest -q tests/reliability --run-slow

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench

migrate: install
	$(BIN)/marketplace migrate --all

run: install
	$(BIN)/marketplace run

clean:
	rm -rf $(VENV) bench/out
