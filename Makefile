# Two commands do all the set-up on a fresh machine:
#   make run   - create .venv, install rlm-tui into it, start the app (pass arguments with ARGS="...")
#   make test  - create .venv, install rlm-tui with its test tools, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: install run test lint bench
install: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/rlm $(ARGS)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .

bench: $(BIN)/.installed
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done
