# Longshoreman: make venv | demo | dev | test | lint | bench | clean
# pip uses this machine's own configuration (index, mirrors, certificates): nothing is pinned here.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo dev test lint bench clean docker-up docker-down

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
test: venv docker-up
	$(BIN)/pytest -q -ra --strict-markers

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts workflows activities worker controlplane longshoreman

# A Docker engine and the images of the docker-launcher tests (scripts/docker/): idempotent, seconds when all is
# there. As root it installs docker.io and starts dockerd if needed. CI=true: no engine stops the run here;
# elsewhere the docker tests then skip, saying how to get one.
docker-up: venv
	@if scripts/docker/ensure-engine.sh; then \
		scripts/docker/build-base-image.sh && scripts/docker/build-images.sh; \
	elif [ "$${CI:-}" = true ]; then exit 1; \
	else echo "docker-up: no Docker engine; the docker tests will be skipped"; fi

docker-down:
	scripts/docker/teardown.sh

bench: venv
	$(BIN)/python bench/launch_latency.py

clean:
	rm -rf .longshoreman .pytest_cache .mypy_cache .ruff_cache
