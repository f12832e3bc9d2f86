# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,fast]'
	touch $(STAMP)

# The main job on the examples: values, gradients with the chain rule, a drawing.
demo: $(STAMP)
	$(BIN)/cgraph eval examples/seed.cg
	$(BIN)/cgraph grad examples/seed.cg --explain
	$(BIN)/cgraph draw examples/seed.cg -o docs/seed.svg
	@echo "wrote docs/seed.svg"

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
