# The book's commands. `make help` lists them. The first run creates .venv with a Python >= 3.12 it finds itself.
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
CHAPTER ?=
PORT    ?= 8000
# Parallel pytest workers; nbval needs loadscope so one notebook's cells stay in one kernel, in order.
WORKERS ?= 2
NBVAL   := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
BOOK_FLAGS := --builder html --warningiserror --nitpick --keep-going

.PHONY: help venv book serve lab outputs figures sync test lint test-unit test-notebooks test-book clean
.PHONY: api-index back-matter test-browser

help:
	@echo "make book            build the site into _build/html from the stored outputs"
	@echo "make serve           serve _build/html on http://localhost:$(PORT)"
	@echo "make test            the whole test suite (lint, structure, checkers, figures, nbval, site build)"
	@echo "make lab             open the chapters in JupyterLab"
	@echo "make outputs         re-run every chapter in a fresh kernel and store its outputs (CHAPTER=01 for one)"
	@echo "make figures         regenerate the SVG figures in figures/"
	@echo "make sync            write the Colab badges, setup and checker cells into the chapters, then their .md twins"
	@echo "                     FROM=md: take the cells of each chapter from its edited .md twin first"
	@echo "make test-notebooks  nbval only (CHAPTER=01 for one chapter)"
	@echo "                     BACKEND=gpu|tpu: on a GPU/TPU machine, installs jax[cuda12]/jax[tpu] at the pin first"
	@echo "make test-portability  nbval on one core, strict warnings, bfloat16 matmuls, +-4 ulps, fresh HOME, twice,"
	@echo "                     under every Python >= 3.12 found (3.12 and 3.13), each in its own venv"
	@echo "make test-colab      every chapter in a rehearsal of Colab's image: Python 3.13, its versions, preloaded numpy"
	@echo "make test-accelerator-numerics  nbval with float32 matmuls rounded to bfloat16, as on a TPU (CHAPTER=01)"
	@echo "make test-browser    the built site in headless Chromium, offline: errors, math, figures, a11y, weight"
	@echo "make api-index       regenerate chapters/api_index.md from the notebooks (make book does it too)"
	@echo "make back-matter     regenerate chapters/errors.md and chapters/migration.md from the notebooks (make book too)"
	@echo "make clean           remove _build and caches (keeps .venv)"

# --- environment -------------------------------------------------------------------------------
venv: $(STAMP)

$(STAMP): requirements.txt tools/find_python.sh
	@python=$$(tools/find_python.sh) || exit 1; \
	  if [ ! -x $(BIN)/python ]; then echo "creating $(VENV) with $$python"; "$$python" -m venv $(VENV) || exit 1; fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

# The accessibility audit the browser tests inject (axe-core), from the npm registry (package.json,
# package-lock.json). Without npm the audit is reported as skipped, with the reason, not silently passed.
NODE_STAMP := node_modules/.package-lock.json

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --ignore-scripts --no-audit --no-fund && touch $@; \
	  else echo "npm not found: the browser tests will report the axe-core audit as skipped"; fi

# --- reading and writing the book --------------------------------------------------------------
book: $(STAMP) api-index back-matter
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)
	@echo "Built. Open _build/html/index.html, or run 'make serve' and visit http://localhost:$(PORT)"

api-index: $(STAMP)
	$(BIN)/python tools/make_api_index.py

back-matter: $(STAMP)
	$(BIN)/python tools/make_error_index.py
	$(BIN)/python tools/make_migration_index.py

serve: book
	$(BIN)/python -m http.server --directory _build/html --bind 127.0.0.1 $(PORT)

# In a container you are often root, which Jupyter refuses without --allow-root.
lab: $(STAMP)
	$(BIN)/jupyter lab chapters/ $(if $(filter 0,$(shell id -u)),--allow-root)

# FROM=md: take each chapter's cells from its text twin chapters/NN_name.md first (a reviewer's edit there).
FROM ?=
ifneq ($(filter-out md,$(FROM)),)
$(error FROM must be empty or md, not '$(FROM)')
endif
sync: $(STAMP)
	$(BIN)/python tools/sync_cells.py $(if $(FROM),--from-md)

outputs: sync
	$(BIN)/python tools/execute_notebooks.py $(CHAPTER)

figures: $(STAMP)
	$(BIN)/python tools/make_figures.py figures/

# --- tests ---------------------------------------------------------------------------------------
test: lint test-unit test-book test-browser
	@echo "make test: all checks passed"

lint: $(STAMP)
	$(BIN)/ruff check tools/ tests/ figures/ chapters/
	$(BIN)/ruff format --check tools/ tests/ figures/

# Unit and structure tests and nbval on every chapter, in one parallel pytest run.
test-unit: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope --ignore=tests/browser tests/ chapters/ $(NBVAL)

test-notebooks: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope $(NBVAL) chapters/$(CHAPTER)*.ipynb

test-book: book

# The built site in headless Chromium (Debian's chromium; .ci/run installs it), every request off 127.0.0.1 blocked:
# console errors, failed requests, math, figures and alt text, code cells, Colab and download buttons, search, an
# axe-core accessibility audit, and each page's load time and transfer size (a table at the end). Skipped, with
# the reason shown, where Chromium is missing.
test-browser: book $(NODE_STAMP)
	$(BIN)/python -m pytest -rs tests/browser/

# --- accelerators and portability (README: "Running the notebooks on a GPU or TPU") ----------------
# `make test-notebooks BACKEND=gpu` (or tpu) installs the pinned jax with its extra into .venv, stops at once unless
# JAX's default backend is that one (the setup cell's guard, run before pytest; the same guard runs in every
# notebook, since BOOK_BACKEND reaches the kernels), then runs nbval one notebook at a time without preallocating
# 75% of device memory per process (a TPU is owned by one process at a time anyway). BACKEND=cpu only checks.
BACKEND ?=
JAX_VERSION := $(shell sed -n 's/^jax==\([^ #]*\).*/\1/p' requirements.txt)
JAX_EXTRA_gpu := cuda12
JAX_EXTRA_tpu := tpu

.PHONY: backend-check test-portability test-accelerator-numerics test-colab

ifneq ($(BACKEND),)
ifeq ($(filter cpu gpu tpu,$(BACKEND)),)
$(error BACKEND must be cpu, gpu or tpu, not '$(BACKEND)')
endif
export BOOK_BACKEND := $(BACKEND)
test-notebooks: backend-check
endif
ifneq ($(filter gpu tpu,$(BACKEND)),)
export XLA_PYTHON_CLIENT_PREALLOCATE := false
WORKERS := 0
endif

backend-check: $(STAMP) $(if $(filter gpu tpu,$(BACKEND)),$(VENV)/.jax-$(BACKEND))
	$(BIN)/python -c 'import sys; sys.path.insert(0, "tools"); from book_cells import setup_source; exec(setup_source())'
	@echo "backend check: JAX runs on $(or $(BACKEND),its default backend)"

$(VENV)/.jax-gpu $(VENV)/.jax-tpu: $(VENV)/.jax-%: $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.txt "jax[$(JAX_EXTRA_$*)]==$(JAX_VERSION)"
	@touch $@

# nbval on every chapter on one core, with jax/optax deprecations as errors, float32 matmul operands rounded to
# bfloat16 and transcendental results moved by +-4 ulps (tools/kernel_hooks/), from elsewhere with a fresh HOME,
# twice in a row, under every Python >= 3.12 found, each in its own venv (tools/portability.py; CHAPTER=01 for one
# chapter). CI runs it nightly.
test-portability: $(STAMP)
	$(BIN)/python tools/portability.py $(CHAPTER)

# Colab's own image, rehearsed offline (tools/colab_rehearsal.py; CHAPTER=01 for one): a Python 3.13 venv at the
# versions of tools/colab/image.txt, copied afresh per chapter, numpy and pandas imported before the first cell, the
# setup cell's install and restart, then nbval. Skipped, with the reason, where no Python 3.13 exists.
test-colab: $(STAMP)
	$(BIN)/python tools/colab_rehearsal.py $(CHAPTER)

# Only the simulated accelerator numerics, one pass on the chapters in place: a quick check after `make outputs`
# that no stored output prints a raw float32 matrix product (tools/kernel_hooks/bfloat16_matmul.py).
test-accelerator-numerics: $(STAMP)
	$(BIN)/python tools/portability.py --numerics-only $(CHAPTER)

clean:
	rm -rf _build .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
