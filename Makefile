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

.PHONY: run test fuzz lint bench sam-check deploy migrate-status clean venv demo

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@# The code lives where Lambda looks for it; put those folders on the venv's path.
	$(BIN)/python -c 'import pathlib, site; root = pathlib.Path.cwd(); pathlib.Path(site.getsitepackages()[0], "molecule.pth").write_text("\n".join(str(root / p) for p in ("layers/common/python", "local", "agent", ".")) + "\n")'
	touch $(STAMP)

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
	$(BIN)/python -m bench

migrate-status: $(STAMP)
	$(BIN)/python -m molecule_local migrate status

# aws-sam-cli pins its own dependency versions; it gets a tool environment of its own so that
# it never loosens ours. cfn-lint is the version sam itself accepts, pinned so both lint alike.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli==1.170.0' 'cfn-lint==1.58.0'
	touch $@

# checkov pins dozens of dependencies of its own, other versions than aws-sam-cli's: a third env.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==3.3.30'
	touch $@

# The template's gates: SAM's own validation, cfn-lint (errors and warnings fail), checkov (every
# remaining suppression is explained in the template's Metadata), then a build without Docker.
sam-check: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	@test -n "$(LAMBDA_PYTHON)" || (echo "python3.13 (the Lambda runtime) must be installed for sam build"; exit 1)
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	PATH="$$(dirname $(LAMBDA_PYTHON)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --parallel
	@# Lambda mounts the layer at /opt and imports from /opt/python: the package must sit right there.
	test -f .aws-sam/build/CommonLayer/python/molecule_core/__init__.py
	test -f .aws-sam/build/MigrateFunction/migrations/001_workspaces.up.sql
	test -f .aws-sam/build/ConsoleFunction/assets/index.html

# Build and deploy one environment of samconfig.toml (stack name, region, parameters).
deploy: $(SAM_VENV)/.installed
	@case "$(ENV)" in dev|prod) ;; *) echo "ENV must be dev or prod (samconfig.toml)"; exit 1;; esac
	@test -n "$(LAMBDA_PYTHON)" || (echo "python3.13 (the Lambda runtime) must be installed for sam build"; exit 1)
	PATH="$$(dirname $(LAMBDA_PYTHON)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --config-env $(ENV)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam deploy --config-env $(ENV)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
