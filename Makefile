# The two set-up commands: `make run` (the app) and `make test` (the whole suite).
# Each creates .venv/ when missing, installs the project with its pinned dependencies (again only when
# pyproject.toml changes), prepares the embedded offline model once, then runs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup bench clean

run: setup
	$(BIN)/tweetsmith $(ARGS)

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

setup: $(STAMP)
	@$(BIN)/tweetsmith setup

# torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU build from local disk here.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

bench: setup
	$(BIN)/python bench/prepare_speed.py

clean:
	rm -rf $(VENV) build *.egg-info
