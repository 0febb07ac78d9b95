# Entry points, each working on a fresh machine that has only Python 3.10+ (with venv) and make:
#   make install  creates .venv and installs layergrad in it (then: .venv/bin/layergrad, or . .venv/bin/activate)
#   make demo     the same, then runs the main job into out/
#   make test     the same, then runs the whole test suite (and ruff)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[notebooks,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/layergrad demo -o out

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out
