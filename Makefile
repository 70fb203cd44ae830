# Molecule serverless — developer entry points.
#   make run    the local stack on 127.0.0.1:8080 (embedded PostgreSQL, no cloud account)
#   make test   the whole suite (unit, integration, e2e, browser) against real PostgreSQL
#   make fuzz   schemathesis against every operation of /openapi.json, far longer than in make test
#   make deploy ENV=dev|prod   sam build + sam deploy with samconfig.toml's [ENV] settings
# Each target bootstraps .venv itself from any Python 3.11+.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
ENV ?= dev
# The Lambda runtime's Python must be on PATH for `sam build` without Docker.
# (pyenv shims do not count: they refuse to run a version that is not selected.)
LAMBDA_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))

.PHONY: run test fuzz lint bench sam-check deploy migrate-status clean venv demo lambda-python

venv: $(STAMP)

# The first run installs for about two minutes: every step says what it does, and pip names each
# package it fetches (no progress bars: they garble logs and CI output).
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@echo "==> [1/4] creating $(VENV) with $(PYTHON) (first run only; installing takes about two minutes)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/4] upgrading pip"
	$(BIN)/pip install --progress-bar off --upgrade pip
	@echo "==> [3/4] installing the project and its development dependencies"
	$(BIN)/pip install --progress-bar off -e '.[dev]'
	@echo "==> [4/4] putting the code folders on $(VENV)'s path"
	@# The code lives where Lambda looks for it; put those folders on the venv's path.
	$(BIN)/python -c 'import pathlib, site; root = pathlib.Path.cwd(); pathlib.Path(site.getsitepackages()[0], "molecule.pth").write_text("\n".join(str(root / p) for p in ("layers/common/python", "local", "agent", ".")) + "\n")'
	touch $(STAMP)
	@echo "==> $(VENV) is ready"

run: $(STAMP)
	$(BIN)/python -m molecule_local run

# The whole system in one command: on a running `make run`, or a stack of its own.
demo: $(STAMP)
	$(BIN)/python -m molecule_local demo

test: $(STAMP)
	$(BIN)/python -m pytest

# The suite's schemathesis test with ~25x the examples and a 30-minute budget.
fuzz: $(STAMP)
	SCHEMATHESIS_MAX_EXAMPLES=$${SCHEMATHESIS_MAX_EXAMPLES:-200} SCHEMATHESIS_TIME_BUDGET=$${SCHEMATHESIS_TIME_BUDGET:-1800} \
		$(BIN)/python -m pytest tests/integration/test_schemathesis.py -p no:cacheprovider -s

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check layers local functions
	$(BIN)/mypy layers/common/python/molecule_core

bench: $(STAMP)
	LAMBDA_PYTHON="$(LAMBDA_PYTHON)" $(BIN)/python -m bench

migrate-status: $(STAMP)
	$(BIN)/python -m molecule_local migrate status

# `sam build` ships source only and Lambda's code is read-only: without bytecode in the package,
# every cold start compiles each module it imports (local/molecule_local/bytecode.py). Compiled
# by the runtime's Python, after every `sam build`.
LAMBDA_BYTECODE = $(LAMBDA_PYTHON) -I local/molecule_local/bytecode.py

# `sam build` without Docker runs the Lambda runtime's Python: check for a working python3.13
# before minutes of installing SAM. A pyenv shim alone is not one (it refuses to run a version
# that is not installed or selected), so say what to do about it.
lambda-python:
	@if [ -z "$(LAMBDA_PYTHON)" ]; then \
	  echo "python3.13 (the Lambda runtime) is needed for sam build: install Python 3.13 (e.g. 'pyenv install 3.13'), or pass LAMBDA_PYTHON=/path/to/python3.13"; \
	  exit 1; \
	elif ! "$(LAMBDA_PYTHON)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then \
	  case "$(LAMBDA_PYTHON)" in \
	    */shims/*) echo "$(LAMBDA_PYTHON) is a pyenv shim with no Python 3.13 behind it: run 'pyenv install 3.13' (make then finds ~/.pyenv/versions/3.13*/bin/python3.13 by itself), or pass LAMBDA_PYTHON=/path/to/python3.13";; \
	    *) echo "$(LAMBDA_PYTHON) does not run as Python 3.13: pass LAMBDA_PYTHON=/path/to/python3.13";; \
	  esac; \
	  exit 1; \
	fi

# aws-sam-cli pins its own dependency versions; it gets a tool environment of its own so that
# it never loosens ours. cfn-lint is the version sam itself accepts, pinned so both lint alike.
# (Order-only on lambda-python: nothing is installed when sam build could not run anyway.)
$(SAM_VENV)/.installed: | lambda-python
	@echo "==> installing aws-sam-cli and cfn-lint into $(SAM_VENV) (first run only)"
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --progress-bar off 'aws-sam-cli==1.170.0' 'cfn-lint==1.58.0'
	touch $@

# checkov pins dozens of dependencies of its own, other versions than aws-sam-cli's: a third env.
$(CHECKOV_VENV)/.installed: | lambda-python
	@echo "==> installing checkov into $(CHECKOV_VENV) (first run only)"
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --progress-bar off 'checkov==3.3.30'
	touch $@

# The template's gates: SAM's own validation, cfn-lint (errors and warnings fail), checkov (every
# remaining suppression is explained in the template's Metadata), then a build without Docker.
sam-check: lambda-python $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	PATH="$$(dirname $(LAMBDA_PYTHON)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --parallel
	$(LAMBDA_BYTECODE) compile .aws-sam/build
	$(LAMBDA_BYTECODE) check .aws-sam/build
	@# Lambda mounts the layer at /opt and imports from /opt/python: the package must sit right there.
	test -f .aws-sam/build/CommonLayer/python/molecule_core/__init__.py
	test -f .aws-sam/build/MigrateFunction/migrations/001_workspaces.up.sql
	test -f .aws-sam/build/ConsoleFunction/assets/index.html
	@# The A2A proxy's AWS_LAMBDA_EXEC_WRAPPER must reach Lambda executable (README "Deploying").
	test -x .aws-sam/build/A2aProxyFunction/stream_runtime.sh

# Build and deploy one environment of samconfig.toml (stack name, region, parameters), with every
# module's bytecode in the package (LAMBDA_BYTECODE, above).
deploy: lambda-python $(SAM_VENV)/.installed
	@case "$(ENV)" in dev|prod) ;; *) echo "ENV must be dev or prod (samconfig.toml)"; exit 1;; esac
	PATH="$$(dirname $(LAMBDA_PYTHON)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --config-env $(ENV)
	$(LAMBDA_BYTECODE) compile .aws-sam/build
	$(LAMBDA_BYTECODE) check .aws-sam/build
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam deploy --config-env $(ENV)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
