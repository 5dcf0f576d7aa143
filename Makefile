# The two set-up commands: `make run` (the app; `make run ARGS="serve"` for a browser) and `make test` (the whole suite).
# Each creates .venv/ when missing, installs the project with its pinned dependencies (again only when
# pyproject.toml changes), prepares the embedded offline model once, then runs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck setup chromium bench clean

run: setup
	$(BIN)/tweetsmith $(ARGS)

test: setup chromium lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Style before the suite (seconds): the linter, then the formatter's check (`$(BIN)/ruff format` fixes it).
LINTED := engine data tui scripts tests bench
lint: setup typecheck
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

# The types (mypy, [tool.mypy] in pyproject.toml), under the names the package installs as.
TYPECHECK := $(VENV)/typecheck/tweetsmith
typecheck: setup
	@mkdir -p $(TYPECHECK) && touch $(TYPECHECK)/__init__.py
	@for room in engine data tui scripts; do ln -sfn "$(CURDIR)/$$room" $(TYPECHECK)/$$room; done
	MYPYPATH=$(VENV)/typecheck $(BIN)/mypy -p tweetsmith

# The browser tests of `tweetsmith serve` drive Debian's chromium (Playwright's own browser download is not
# reachable everywhere). Installed with apt when apt-get exists and chromium is missing, as root or through
# sudo when it needs no password (sudo -n: make never waits at a prompt); never fails: without it the tests fail
# with a message saying how to install it.
chromium:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "make: chromium is missing (the browser tests will fail): run 'sudo apt-get install chromium' once"; exit 0; fi; \
	  echo "make: installing chromium with apt-get (for the browser tests of tweetsmith serve)"; \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "make: apt-get could not install chromium: the browser tests will fail"; }

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
