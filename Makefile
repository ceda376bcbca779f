# The marketplace's everyday commands. Everything runs inside .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PSYCOPG_WAIT_FUNC := wait_selector
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install test test-unit test-reliability lint format bench run demo migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools<81'

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

# the slow reliability scenarios (crashes, broker and database restarts) run in test-reliability
test: install
	$(BIN)/pytest -q -m "not slow"

test-unit: install
	$(BIN)/pytest -q tests/unit

test-reliability: install
	$(BIN)/pytest -q tests/reliability

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

# CLOCK=offset:var/clock-offset gives every service the shared movable clock `make demo` needs
CLOCK ?=
run: install
	$(BIN)/marketplace run $(if $(CLOCK),--clock $(CLOCK))

demo: install
	$(BIN)/marketplace demo

clean:
	rm -rf $(VENV) bench/out
