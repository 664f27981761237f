# dlcourse: two commands do everything — `make book` and `make test`.
# Both create .venv from the pinned requirements.txt on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dlcourse-installed
JOBS ?= 2
NOTEBOOKS = $(sort $(wildcard chapters/*.ipynb) $(wildcard solutions/*.ipynb))
NBVAL = --nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg

.PHONY: help setup book test test-portable test-colab lab exercises outputs headers bench clean
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-build-isolation --no-deps -e .
	@touch $@

setup: $(STAMP)  ## create .venv with the pinned stack and dlcourse_utils (editable)

book: $(STAMP)  ## build the web book into _build/html (warnings are errors)
	$(BIN)/jupyter-book build -W --keep-going .
	@echo "Open _build/html/index.html in a browser."

test: $(STAMP)  ## run the whole suite: unit tests, nbval, exercise pipeline, book build, browser
	$(BIN)/python -m pytest -n $(JOBS) --dist loadscope $(NBVAL)

test-portable: $(STAMP)  ## re-check the notebooks' stored outputs as if on another machine
	DLCOURSE_OTHER_MACHINE=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadscope $(NBVAL) chapters solutions

test-colab: $(STAMP)  ## run every notebook on the newest unpinned Colab-like stack (cached venv outside the checkout)
	$(BIN)/python tools/colab_like.py run

# `make lab LAB_ARGS="--no-browser --port 8899"` passes further options to JupyterLab.
# JupyterLab shows Markdown files rendered (its default is the text editor), so that
# `make lab` opens on the book's first page as a reader sees it. Only this .venv's
# JupyterLab is affected; a learner can still pick another viewer.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_OVERRIDES): $(STAMP)
	@mkdir -p $(dir $@)
	@printf '%s\n' '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}}}' > $@

lab: $(STAMP) $(LAB_OVERRIDES)  ## open the book in JupyterLab, on its first page (intro.md)
	@flags=""; if [ "$$(id -u)" = 0 ]; then \
	  echo "make lab: running as root (usual in containers), so adding --allow-root: Jupyter refuses to start as root without it."; \
	  flags="--allow-root"; fi; \
	$(BIN)/jupyter lab --notebook-dir=. --LabApp.default_url=/lab/tree/intro.md $$flags $(LAB_ARGS)

exercises: $(STAMP)  ## regenerate exercises/ from solutions/
	$(BIN)/python tools/notebooks.py exercises

headers: $(STAMP)  ## rewrite every notebook's Colab badge and set-up cell from _config.yml
	$(BIN)/python tools/notebooks.py header

outputs: $(STAMP)  ## re-execute chapters and solutions, store their outputs, regenerate exercises
	$(BIN)/python tools/notebooks.py execute $(NOTEBOOKS)
	$(BIN)/python tools/notebooks.py exercises

bench: $(STAMP)  ## time every notebook in a fresh kernel; record results, the runtime page and headers
	$(BIN)/python tools/bench.py run
	$(BIN)/python tools/bench.py headers
	$(BIN)/python tools/notebooks.py exercises

clean:  ## remove the built book (keeps .venv)
	rm -rf _build
