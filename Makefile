# The suite's commands. Each target is a line or two; the work lives in scripts/.
.DEFAULT_GOAL := help
UV := .tools/bin/uv
PY := .venv/bin/python

.PHONY: help install up down test test-services test-e2e lint lint-api fmt migrate bench clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

install:  ## create .venv and install every package (runs uv from .tools/)
	@scripts/bootstrap.sh

up: install  ## run Redis, auth, content and gateway in the foreground; Ctrl-C stops all
	@$(PY) scripts/devstack.py up

down:  ## stop a stack started by `make up` in another terminal
	@$(PY) scripts/devstack.py down

test: install  ## every test: each service on its own, then end to end over real processes
	@scripts/test.sh

test-services: install  ## only the per-service tests, each in its own environment
	@scripts/test.sh services

test-e2e: install  ## only the end-to-end tests
	@scripts/test.sh e2e

lint: install  ## ruff, mypy and deptry (every import declared where it is made) over every package
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy shared/src services/auth/src services/content/src services/gateway/src scripts
	@for package in shared services/auth services/content services/gateway; do \
		(cd $$package && $(CURDIR)/.venv/bin/deptry --no-ansi .) || exit 1; done
	@.venv/bin/deptry --no-ansi scripts tests

lint-api: install  ## the OpenAPI documents: Redocly (recommended) and Spectral (OAS + OWASP)
	@scripts/lint-api.sh

fmt: install  ## format and sort imports
	@$(UV) run --frozen ruff check --fix .
	@$(UV) run --frozen ruff format .

migrate: install  ## apply every service's migrations to its database
	@.venv/bin/flask --app auth_service db upgrade
	@.venv/bin/flask --app content_service db upgrade

clean:  ## remove local state (databases, keys, Redis files) and virtualenvs
	rm -rf var .venv .venvs .tools

# --- content: PostgreSQL tests and the list benchmark --------------------------------------
.PHONY: test-postgres bench-content

test-postgres: install  ## auth, content and e2e tests on a throwaway PostgreSQL 15 cluster
	@scripts/test-postgres.sh

# `bench` may have other parts (rules without a recipe only add prerequisites).
bench: bench-content

bench-content: install  ## list-page latency at 1,000 and 100,000 posts -> docs/benchmarks.md
	@$(PY) scripts/bench_content.py

# --- containers and deployment: deploy/, docker-compose.yml, services/*/Dockerfile ----------
# Where docker has no engine, COMPOSE=podman-compose runs the same file with podman.
COMPOSE ?= docker compose
COMPOSE_ENV_FILE ?= deploy/compose/development.env

.PHONY: compose-up compose-down test-compose test-containers test-k8s validate-deploy

compose-up:  ## the stack as containers (PostgreSQL per service, Redis); COMPOSE_ENV_FILE for production
	$(COMPOSE) --env-file $(COMPOSE_ENV_FILE) up -d --build
	@echo "gateway: http://127.0.0.1:8000 (docker compose ps shows health; make compose-down stops)"

compose-down:  ## stop the compose stack; volumes stay (COMPOSE_DOWN_FLAGS=-v drops them)
	$(COMPOSE) --env-file $(COMPOSE_ENV_FILE) down $(COMPOSE_DOWN_FLAGS)

test-compose: install  ## docker-compose.yml run with podman-compose (host network), e2e tests, down -v
	@deploy/test-compose.sh

test-containers: install  ## build the three images with podman and run the e2e tests against them
	@deploy/test-containers.sh

test-k8s: install  ## deploy/k8s run with podman kube play (host network), migrate Jobs, probes, e2e tests
	@deploy/test-k8s.sh

validate-deploy: install  ## docker-compose.yml against the Compose spec, deploy/k8s against Kubernetes schemas
	@UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=.venvs/deploy $(UV) sync --only-group deploy --frozen --quiet
	@.venvs/deploy/bin/python deploy/validate.py

# -- gateway ---------------------------------------------------------------------------------
.PHONY: bench-gateway

bench: bench-gateway  ## every benchmark; each part writes its own section of docs/benchmarks.md

bench-gateway: install  ## requests/s straight to content vs through the gateway (wrk)
	@$(PY) scripts/bench_gateway.py

# -- browser: hosted pages, cookie sessions and the console in headless Chromium -----------
.PHONY: test-browser
test-browser: install  ## browser tests in Debian's headless Chromium (installs it when missing)
	@scripts/install-browser.sh
	@.venv/bin/python -m pytest tests/browser -p no:cacheprovider

# -- reliability: faults, races, fuzzing, soak, security scan ---------------------
.PHONY: test-reliability soak security

test-reliability: install  ## fault injection, races and API fuzzing against the real stack
	@.venv/bin/python -m pytest tests/reliability -p no:cacheprovider

soak: install  ## mixed load at the measured capacity (SOAK_SECONDS, default 60); docs/benchmarks.md
	@$(PY) scripts/soak.py --write-docs

.PHONY: bandit audit
security: bandit audit  ## bandit over the code and pip-audit over the lock

bandit: install  ## bandit over the common package and the services
	@$(UV) run --frozen bandit -q -c pyproject.toml -r shared/src services/auth/src services/content/src services/gateway/src

audit: install  ## known vulnerabilities in every locked package (pip-audit; needs the advisory database online)
	@scripts/audit.sh

# -- the suite against the seed's monolith (issue 20) ----------------------------------------
.PHONY: bench-monolith
bench: bench-monolith

bench-monolith: install  ## the seed's REST example vs content and the gateway (wrk); idle stack memory
	@$(PY) scripts/bench_monolith.py

.PHONY: bench-writes
bench: bench-writes

bench-writes: install  ## item creates at concurrency 16 on PostgreSQL, with and without the exact total
	@$(PY) scripts/bench_writes.py
