# Two commands: `make run` (set up and run cobuild on the embedded default) and
# `make test` (set up and run the whole test suite).  Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export COBUILD_HOME ?= $(CURDIR)/var

.PHONY: run test install clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Running needs the product only; the test tools (pytest, hypothesis, schemathesis ...)
# are installed by `make test`.
$(VENV)/.installed: $(BIN)/activate setup.cfg pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/cobuild init
	$(BIN)/cobuild demo
	$(BIN)/cobuild serve

test: $(VENV)/.installed-dev
	sh .ci/browser.sh  # Debian's Chromium for the page tests (installed once, never downloaded)
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
