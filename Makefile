# Everything a newcomer needs. Each target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SAMVENV := .venv-sam
SAM    := $(SAMVENV)/bin/sam
# sam build for the python3.12 runtime needs a python3.12 on PATH (pyenv keeps one aside).
PY312_PATH := $(shell command -v pyenv >/dev/null 2>&1 && dirname "$$(PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null)" 2>/dev/null)

.PHONY: setup test faults lint format openapi demo bench build deploy clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(SAMVENV)/.installed:
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install -q aws-sam-cli
	touch $@

setup: $(VENV)/.installed

# Unit and integration tests in two processes (pytest-xdist), then, in one process, the tests that watch
# wall-clock timing (the e2e tests each drive a whole local stack; the send claims' tests cancel and kill
# senders mid-POST) with the check of every AWS call the handlers made (AWSCALLS_DIR).
ALONE := tests/e2e tests/integration/test_send_claims.py
LEAST_PRIVILEGE := tests/integration/test_least_privilege.py::test_every_aws_call_a_handler_made_is_granted
test: setup
	rm -rf build/awscalls
	AWSCALLS_DIR=build/awscalls $(PY) -m pytest -n 2 tests $(addprefix --ignore=,$(ALONE)) --deselect $(LEAST_PRIVILEGE)
	AWSCALLS_DIR=build/awscalls $(PY) -m pytest $(ALONE) $(LEAST_PRIVILEGE)

# The fault-injection suite (issue 16): ~3 min, so not part of `make test`; its table lands in build/faults.md.
faults: setup
	FAULTS_TABLE=build/faults.md $(PY) -m pytest -m faults -q -p no:cacheprovider tests/faults
	@echo "table: build/faults.md"

lint: setup $(SAMVENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --region us-east-1

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The stack's one OpenAPI document, from every function's routes (tests/unit/test_openapi.py fails when stale).
openapi: setup
	$(PY) -m mmapi.openapi

demo: setup
	$(VENV)/bin/mmapi demo

bench: setup
	$(PY) -m benchmarks

build: $(SAMVENV)/.installed
	PATH="$(PY312_PATH):$$PATH" $(SAM) build

deploy: build
	$(SAM) deploy --guided

clean:
	rm -rf $(VENV) $(SAMVENV) .aws-sam .pytest_cache .ruff_cache
