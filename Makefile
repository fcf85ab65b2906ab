# The commands a newcomer needs: `make demo` and `make test`. CI runs `make test` (.ci/run).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Real MCP servers the tests run (npm's server-everything and server-filesystem).
# Rewritten by every `npm ci`: current when newer than the lockfile; offline after
# the first install (npm's cache).
MCP_SERVERS := tests/mcp-servers/node_modules/.package-lock.json

.PHONY: demo test lint typecheck pytest editors-setup editors-test acp-node-test bench clean mcp-servers

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

mcp-servers: $(MCP_SERVERS)

$(MCP_SERVERS): tests/mcp-servers/package.json tests/mcp-servers/package-lock.json
	cd tests/mcp-servers && npm ci --prefer-offline --no-audit --no-fund
	@touch $@

pytest: $(STAMP) editors-setup $(MCP_SERVERS)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q

editors-test: $(STAMP)
	$(MAKE) -C editors/vscode test

# nexus-lsp acp driven by the official ACP TypeScript SDK (a client we did not write)
acp-node-test: $(STAMP)
	cd tests/acp-node && npm ci --no-audit --no-fund
	cd tests/acp-node && PATH="$(CURDIR)/$(BIN):$$PATH" NEXUS_PYTHON="$(CURDIR)/$(BIN)/python" node --test

test: lint typecheck pytest editors-test acp-node-test

bench: $(STAMP) $(MCP_SERVERS)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
