PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.gankit-installed

.PHONY: setup demo test lint clean

setup: $(STAMP)

# Reinstall only when the dependency list changes (the stamp is newer than pyproject.toml).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gankit demo

lint: $(STAMP)
	$(BIN)/ruff check gankit tests benchmarks tools
	$(BIN)/ruff format --check gankit tests benchmarks tools

test: lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-output
