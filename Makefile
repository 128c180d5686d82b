# The lab book builds from two commands on a fresh machine:
#   make book [PROFILE=smoke|quick|full]   executes the notebooks, builds _build/html
#   make test [PROFILE=smoke]              unit tests, doctests, nbval on executed notebooks, then
#                                          the committed book built and checked in headless Chromium
# MNIST: $STNUTILS_DATA (a folder holding MNIST/raw/), else ./data (downloaded there).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON3 ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NBVAL_DIR := _build/nbval
BOOK_LOG := _build/book-build.log
SUDO := $(if $(filter 0,$(shell id -u)),,sudo )
DEVICE ?= cpu
SEED ?= 0

# A relative data root is made absolute: the notebooks' kernels do not all start here.
ifneq ($(strip $(STNUTILS_DATA)),)
export STNUTILS_DATA := $(abspath $(STNUTILS_DATA))
endif
# Trained models shared between chapters (stnutils.runs), one folder per profile.
STNUTILS_RUNS ?= $(CURDIR)/runs
export STNUTILS_RUNS := $(abspath $(STNUTILS_RUNS))
# The benchmark's results files (week 7 writes, the results page reads); absolute for nbval.
STNUTILS_RESULTS ?= $(CURDIR)/results
export STNUTILS_RESULTS := $(abspath $(STNUTILS_RESULTS))

.PHONY: help venv book notebooks test lint unit nbval html check-html check-sliders install-chromium install-ort clean

help:
	@echo "make book [PROFILE=quick]  execute the notebooks (papermill) and build the book in _build/html"
	@echo "make test [PROFILE=smoke]  ruff, pytest (unit tests + doctests), nbval on freshly executed notebooks, the book checked in Chromium"
	@echo "make check-html            check the built _build/html in headless Chromium (screenshots in _build/screenshots)"
	@echo "make install-chromium      apt-get install Debian's chromium (the HTML check needs it)"
	@echo "make install-ort           npm ci: onnxruntime-web pinned in package-lock.json (the explorer's live models)"
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

# The build log is kept: check-html fails on any WARNING line in it, even from a build
# run without -W.
book: PROFILE ?= quick
book: notebooks install-chromium install-ort
	@mkdir -p _build
	$(VENV)/bin/jupyter-book build -W -n --keep-going . 2>&1 | tee $(BOOK_LOG)
	$(MAKE) --no-print-directory check-html
	$(MAKE) --no-print-directory check-sliders
	@echo "Book built at _build/html/index.html (profile $(PROFILE))"

notebooks: PROFILE ?= quick
notebooks: $(STAMP)
	$(PY) scripts/run_notebooks.py --profile $(PROFILE) --device $(DEVICE) --seed $(SEED)

test: PROFILE ?= smoke
test: lint install-chromium install-ort unit nbval html

# ruff (pyflakes, pycodestyle, import order, bugbear; configured in pyproject.toml)
lint: $(STAMP)
	$(VENV)/bin/ruff check stnutils tests scripts benchmarks _ext

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

# The book as committed: book/ holds the executed notebooks and execution is off in
# _config.yml, so this builds without running them, then checks it as a reader sees it.
# --all: an incremental build does not repeat the warnings of pages it skips.
html: $(STAMP) install-chromium install-ort
	@mkdir -p _build
	$(VENV)/bin/jupyter-book build --all -W -n --keep-going . 2>&1 | tee $(BOOK_LOG)
	$(MAKE) --no-print-directory check-html
	$(MAKE) --no-print-directory check-sliders

# Builds nothing: opens every TOC page of _build/html in headless Chromium (page loads,
# images load, math rendered, no Sphinx error markup, local links and anchors resolve),
# scans the build log when there is one, and saves screenshots to _build/screenshots/
# for CI artefacts. Exit 2 means Chromium is missing: make install-chromium.
check-html: $(STAMP)
	$(PY) scripts/check_html.py --site _build/html --toc _toc.yml --json _build/check-html.json \
		$$(test -f $(BOOK_LOG) && echo --build-log $(BOOK_LOG))

# Debian's chromium; a no-op when it is already on PATH.
install-chromium:
	command -v chromium || ($(SUDO)apt-get update && $(SUDO)apt-get install -y chromium)

# The explorer chapter's sliders in headless Chromium, on the built book: served over http
# (the real models run in the page) and opened from file:// (the pre-rendered grid).
check-sliders: $(STAMP)
	$(PY) scripts/check_sliders.py --site _build/html --json _build/check-sliders.json

# onnxruntime-web for the explorer's live layer, exactly as package-lock.json pins it, into
# node_modules/ (git-ignored; _ext/explorer_assets.py copies the three files a page needs).
# --ignore-scripts: no install script runs (the browser needs none). Re-run when the lock changes.
install-ort: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	command -v npm || ($(SUDO)apt-get update && $(SUDO)apt-get install -y npm)
	npm ci --ignore-scripts --no-audit --no-fund

clean:
	rm -rf _build .pytest_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
