# Longshoreman: make venv | demo | dev | test | lint | bench | clean
# pip uses this machine's own configuration (index, mirrors, certificates): nothing is pinned here.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo dev test lint bench clean docker-up docker-down postgres-up azurite browser-up

venv: $(STAMP)

# Re-install only when pyproject.toml changed since the last install (or the venv is new).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/longshoreman dev --demo

dev: venv
	$(BIN)/longshoreman dev

# -ra lists every skipped, xfailed or errored test with its reason at the end: nothing is skipped silently.
test: venv docker-up postgres-up azurite browser-up
	$(BIN)/pytest -q -ra --strict-markers --durations=25

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts runtime workflows activities agent controlplane longshoreman

# A Docker engine and the images of the docker-launcher tests (scripts/docker/): idempotent, seconds when all is
# there. As root it installs docker.io and starts dockerd if needed. CI=true: no engine stops the run here;
# elsewhere the docker tests then skip, saying how to get one.
docker-up: venv
	@if scripts/docker/ensure-engine.sh; then \
		scripts/docker/build-base-image.sh && scripts/docker/build-images.sh; \
	elif [ "$${CI:-}" = true ]; then exit 1; \
	else echo "docker-up: no Docker engine; the docker tests will be skipped"; fi

# Azurite (the Azure Storage emulator, from npm) for the Azure Blob log-store tests: idempotent, into build/azurite.
# CI=true: a failed install stops the run here; elsewhere those tests then skip, saying how to get it.
azurite:
	@if scripts/azurite/install.sh; then :; \
	elif [ "$${CI:-}" = true ]; then exit 1; \
	else echo "azurite: not installed; the Azure Blob tests will be skipped"; fi

# Debian's chromium for the web UI's browser tests (Playwright drives it; it downloads no browser): idempotent,
# instant when installed; as root it installs the package. CI=true: without it the run stops here; elsewhere those
# tests then skip, saying how to get it.
browser-up:
	@if scripts/browser/ensure-chromium.sh; then :; \
	elif [ "$${CI:-}" = true ]; then exit 1; \
	else echo "browser-up: no chromium; the web UI's browser tests will be skipped"; fi

docker-down:
	scripts/docker/teardown.sh

# PostgreSQL's server binaries for the control-plane tests' throw-away clusters (scripts/postgres/): idempotent,
# instant when installed; as root it installs Debian's postgresql. CI=true: without them the run stops here;
# elsewhere the PostgreSQL tests then skip, saying how to get them.
postgres-up:
	@if scripts/postgres/ensure-installed.sh; then :; \
	elif [ "$${CI:-}" = true ]; then exit 1; \
	else echo "postgres-up: no PostgreSQL server; the PostgreSQL tests will be skipped"; fi

bench: venv
	$(BIN)/python bench/launch_latency.py

clean:
	rm -rf .longshoreman .pytest_cache .mypy_cache .ruff_cache
