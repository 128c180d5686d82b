# The lab book builds from two commands on a fresh machine:
#   make book [PROFILE=smoke|quick|full]   executes the notebooks, builds _build/html
#   make test [PROFILE=smoke]              unit tests, doctests, then nbval on executed notebooks
# MNIST: $STNUTILS_DATA (a folder holding MNIST/raw/), else ./data (downloaded there).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON3 ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NBVAL_DIR := _build/nbval
DEVICE ?= cpu
SEED ?= 0

# A relative data root is made absolute: the notebooks' kernels do not all start here.
ifneq ($(strip $(STNUTILS_DATA)),)
export STNUTILS_DATA := $(abspath $(STNUTILS_DATA))
endif

.PHONY: help venv book notebooks test unit nbval clean

help:
	@echo "make book [PROFILE=quick]  execute the notebooks (papermill) and build the book in _build/html"
	@echo "make test [PROFILE=smoke]  pytest (unit tests + doctests), then nbval on freshly executed notebooks"
	@echo "make venv                  create .venv and install requirements.txt, stnutils (editable), the 'stnutils' kernel"
	@echo "make clean                 remove _build and caches (keeps .venv and book/)"
	@echo "Variables: PROFILE, DEVICE=cpu|cuda|auto, SEED=0, STNUTILS_DATA=<folder holding MNIST/raw>"

venv: $(STAMP)

# Re-run only when the pins or the package metadata change; pip skips what is already satisfied.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-build-isolation --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name stnutils --display-name "Python 3 (stnutils)"
	@touch $(STAMP)

book: PROFILE ?= quick
book: notebooks
	$(VENV)/bin/jupyter-book build -W -n --keep-going .
	@echo "Book built at _build/html/index.html (profile $(PROFILE))"

notebooks: PROFILE ?= quick
notebooks: $(STAMP)
	$(PY) scripts/run_notebooks.py --profile $(PROFILE) --device $(DEVICE) --seed $(SEED)

test: PROFILE ?= smoke
test: unit nbval

# Exit status 5 (no tests collected) fails like any other error.
unit: $(STAMP)
	$(PY) -m pytest -q tests --doctest-modules stnutils

# nbval re-executes each notebook as stored (its injected parameters included, hence the
# same profile) and compares the cells marked '# NBVAL_CHECK_OUTPUT'. Those print values
# that are the same in every profile, so they are also compared with the published book/.
nbval: PROFILE ?= smoke
nbval: $(STAMP)
	rm -rf $(NBVAL_DIR)
	$(PY) scripts/run_notebooks.py --profile $(PROFILE) --device $(DEVICE) --seed $(SEED) --out-dir $(NBVAL_DIR)
	STNUTILS_DATA="$${STNUTILS_DATA:-$(CURDIR)/data}" $(PY) -m pytest -q -p no:cacheprovider \
		--nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg $(NBVAL_DIR)/*.ipynb
	$(PY) scripts/compare_checked_outputs.py book $(NBVAL_DIR)

clean:
	rm -rf _build .pytest_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
