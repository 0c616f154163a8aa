# Two commands do all the set-up, on a fresh clone as on a used one (README.md):
#
#   make demo   the trust suites on the bundled samples with a tiny random LLaVA (and a tiny
#               GuardRank for MLLMGuard), writing trust.json and the trust report trust.html
#   make test   the project's own tests (tiny real-architecture models, CPU, offline)
#
# Each creates what it needs and only what is missing: the virtual environment .venv, torch's
# CPU build first (a bare torch range resolves to the CUDA build, several GB), then the project
# with the versions the tests passed with (constraints.txt), then the tiny models in .demo/.
# `make test CONSTRAINTS=` installs the newest releases pyproject.toml allows instead.

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints.txt
TORCH ?= torch==2.13.0
DEMO ?= .demo
PYTEST_ARGS ?=

BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAIN := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
# Tests and the demo never reach for a model hub.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: demo test lint clean

demo: $(VENV)/.demo-installed $(DEMO)/tiny-llava/config.json $(DEMO)/guardrank.judge
	$(OFFLINE) $(BIN)/pytest --mllm=hf:$(DEMO)/tiny-llava \
		--mllm-judge "$$(cat $(DEMO)/guardrank.judge)" \
		--mllm-json=trust.json --mllm-html=trust.html $(PYTEST_ARGS)

test: $(VENV)/.test-installed
	$(OFFLINE) $(BIN)/pytest $(PYTEST_ARGS)

# What CI checks besides the tests: lint, formatting, types, and the documentation site.
lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mkdocs build --strict --site-dir "$$(mktemp -d)"

clean:
	rm -rf $(VENV) $(DEMO) trust.json trust.html

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.torch-installed: | $(BIN)/python
	$(PIP) install -q $(CONSTRAIN) "$(TORCH)"
	touch $@

# Reinstalled when pyproject.toml or the constraints change.
$(VENV)/.demo-installed: pyproject.toml $(CONSTRAINTS) $(VENV)/.torch-installed
	$(PIP) install -q $(CONSTRAIN) -e ".[hf,judges,report]"
	touch $@

$(VENV)/.test-installed: pyproject.toml $(CONSTRAINTS) $(VENV)/.torch-installed
	$(PIP) install -q $(CONSTRAIN) -e ".[test]"
	touch $@

$(DEMO)/tiny-llava/config.json: | $(VENV)/.demo-installed
	$(BIN)/python -m pytest_mllmtrust.testing build llava $(DEMO)/tiny-llava >/dev/null

$(DEMO)/guardrank.judge: | $(VENV)/.demo-installed
	$(BIN)/python -m pytest_mllmtrust.testing guardrank $(DEMO)/guardrank > $@.tmp
	mv $@.tmp $@
