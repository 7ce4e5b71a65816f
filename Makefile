# Longshoreman: make venv | demo | dev | test | lint | bench | clean
# pip uses this machine's own configuration (index, mirrors, certificates): nothing is pinned here.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo dev test lint bench clean

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
test: venv
	$(BIN)/pytest -q -ra --strict-markers

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts workflows activities worker controlplane longshoreman

bench: venv
	$(BIN)/python bench/launch_latency.py

clean:
	rm -rf .longshoreman .pytest_cache .mypy_cache .ruff_cache
