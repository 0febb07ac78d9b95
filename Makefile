# Two entry points, each working on a fresh machine that has only Python 3.10+:
#   make demo   creates .venv, installs layergrad, runs the main job into out/
#   make test   creates/updates .venv and runs the whole test suite (and ruff)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[notebooks,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/layergrad demo -o out

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out
