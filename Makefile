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

help:
	@echo "make book            build the site into _build/html from the stored outputs"
	@echo "make serve           serve _build/html on http://localhost:$(PORT)"
	@echo "make test            the whole test suite (lint, structure, checkers, figures, nbval, site build)"
	@echo "make lab             open the chapters in JupyterLab"
	@echo "make outputs         re-run every chapter in a fresh kernel and store its outputs (CHAPTER=01 for one)"
	@echo "make figures         regenerate the SVG figures in figures/"
	@echo "make sync            rewrite the setup and checker cells from tools/cells/ into the chapters"
	@echo "make test-notebooks  nbval only (CHAPTER=01 for one chapter)"
	@echo "make clean           remove _build and caches (keeps .venv)"

# --- environment -------------------------------------------------------------------------------
venv: $(STAMP)

$(STAMP): requirements.txt tools/find_python.sh
	@python=$$(tools/find_python.sh) || exit 1; \
	  if [ ! -x $(BIN)/python ]; then echo "creating $(VENV) with $$python"; "$$python" -m venv $(VENV) || exit 1; fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

# --- reading and writing the book --------------------------------------------------------------
book: $(STAMP)
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)
	@echo "Built. Open _build/html/index.html, or run 'make serve' and visit http://localhost:$(PORT)"

serve: book
	$(BIN)/python -m http.server --directory _build/html --bind 127.0.0.1 $(PORT)

lab: $(STAMP)
	$(BIN)/jupyter lab chapters/

sync: $(STAMP)
	$(BIN)/python tools/sync_cells.py

outputs: sync
	$(BIN)/python tools/execute_notebooks.py $(CHAPTER)

figures: $(STAMP)
	$(BIN)/python tools/make_figures.py figures/

# --- tests ---------------------------------------------------------------------------------------
test: lint test-unit test-book
	@echo "make test: all checks passed"

lint: $(STAMP)
	$(BIN)/ruff check tools/ tests/ figures/ chapters/
	$(BIN)/ruff format --check tools/ tests/ figures/

# Unit and structure tests and nbval on every chapter, in one parallel pytest run.
test-unit: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope tests/ chapters/ $(NBVAL)

test-notebooks: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope $(NBVAL) chapters/$(CHAPTER)*.ipynb

test-book: book

clean:
	rm -rf _build .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
