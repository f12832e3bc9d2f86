# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := $(VENV)/.torch

.PHONY: demo test bench fuzz tables clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,plot,dask]'
	touch $(STAMP)

# The main job on the examples: values, gradients with the chain rule, a drawing.
demo: $(STAMP)
	$(BIN)/cgraph eval examples/seed.cg
	$(BIN)/cgraph grad examples/seed.cg --explain
	$(BIN)/cgraph draw examples/seed.cg -o docs/seed.svg
	@echo "wrote docs/seed.svg"

# PyTorch's CPU build, for the tests that compare cgraph's optimisers (and, where
# torch is there, its training) with torch itself. Only from a wheel already on this
# machine (pip's find-links; --no-index: never a multi-GB download): elsewhere those
# tests skip and the formula tests still run.
$(TORCH): $(STAMP)
	@if $(BIN)/python -m pip install --quiet --no-index --no-deps 'torch==2.13.0' 2>/dev/null; then \
	  $(BIN)/python -m pip install --quiet 'torch==2.13.0'; \
	else echo "torch is not on this machine: the comparisons with torch are skipped"; fi
	touch $(TORCH)

test: $(STAMP) $(TORCH)
	$(BIN)/python -m pytest

# Long fuzzing (tests/test_fuzz.py, issue 9): every fuzz test takes CGRAPH_FUZZ_EXAMPLES
# examples (default here 3000) instead of the few dozen `make test` gives it.
fuzz: $(STAMP)
	CGRAPH_FUZZ_EXAMPLES=$${CGRAPH_FUZZ_EXAMPLES:-3000} $(BIN)/python -m pytest tests/test_fuzz.py

# After an edit of grammar/cgraph.lark: regenerate the parser tables that ship beside it.
tables: $(STAMP)
	$(BIN)/python -m cgraph.tablegen

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
