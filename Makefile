# `make demo` and `make test` work on a fresh clone: both create .venv and install first.
# Test tiers (CONTRIBUTING.md): `make test` (fast), `make test-slow`; `.ci/run` runs them all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ROOT ?= runs/demo
# Runs one pytest tier and prints its wall time; pytest fails a tier that selects no tests.
TIER = @start=$$(date +%s); $(BIN)/python -m pytest -q tests --tier $(1); rc=$$?; \
	echo "tier $(1): $$(( $$(date +%s) - start )) s (exit $$rc)"; exit $$rc

.PHONY: install models demo lint format test test-slow bench clean

$(STAMP): requirements.txt requirements-common.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The built-in stand-ins (tiny Llama, tiny SD 1.5, toy world data), built once per machine into the cache.
models: $(STAMP)
	@start=$$(date +%s); $(BIN)/synclr models; rc=$$?; echo "models: $$(( $$(date +%s) - start )) s"; exit $$rc

demo: models
	$(BIN)/synclr demo --root $(ROOT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(STAMP)
	$(call TIER,fast)

test-slow: $(STAMP)
	$(call TIER,slow)

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf runs .pytest_cache
