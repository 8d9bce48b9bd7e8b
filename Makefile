# Two commands do all the set-up on a fresh machine:
#   make run   - create .venv, install rlm-tui and its locked dependencies, start the app
#                (pass arguments with ARGS="...")
#   make test  - create .venv, install rlm-tui with its locked test tools (and, where the shared
#                llama.cpp wheel is present, the real-model tier), run the whole test suite
# Every dependency comes from requirements/*.lock, pinned with hashes; `make lock` refreshes them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.app: requirements/app.lock pyproject.toml | $(BIN)/python
	$(PIP) --require-hashes -r requirements/app.lock
	PYTHONWARNINGS="ignore:Editable installation" $(PIP) --no-deps -e .  # quiet setuptools' note on flat layouts
	touch $@

$(VENV)/.test: requirements/test.lock pyproject.toml tests/real_model.py | $(BIN)/python
	$(PIP) --require-hashes -r requirements/test.lock
	PYTHONWARNINGS="ignore:Editable installation" $(PIP) --no-deps -e .  # quiet setuptools' note on flat layouts
	$(BIN)/python -m tests.real_model install
	touch $@ $(VENV)/.app

.PHONY: install run test lint bench lock lock-upgrade
install: $(VENV)/.app

run: $(VENV)/.app
	$(BIN)/rlm $(ARGS)

test: $(VENV)/.test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(BIN)/ruff check .

bench: $(VENV)/.test
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

lock:
	scripts/lock.sh

lock-upgrade:
	scripts/lock.sh --upgrade
