# The commands a newcomer needs: `make demo` and `make test`. CI runs `make test` (.ci/run).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest editors-setup editors-test acp-node-test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nexus-lsp demo

lint: $(STAMP)
	$(BIN)/ruff check nexus_lsp tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Emacs 30 and Vim + ALE for tests/editors (installed with apt-get when root and missing).
editors-setup:
	.ci/editors-setup

pytest: $(STAMP) editors-setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q

editors-test: $(STAMP)
	$(MAKE) -C editors/vscode test

# nexus-lsp acp driven by the official ACP TypeScript SDK (a client we did not write)
acp-node-test: $(STAMP)
	cd tests/acp-node && npm ci --no-audit --no-fund
	cd tests/acp-node && PATH="$(CURDIR)/$(BIN):$$PATH" NEXUS_PYTHON="$(CURDIR)/$(BIN)/python" node --test

test: lint typecheck pytest editors-test acp-node-test

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
