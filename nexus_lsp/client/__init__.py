"""The headless editor behind ``nexus-lsp ask`` and ``nexus-lsp demo``: an LSP client.

It lives apart from the server (``nexus_lsp.lsp``): it spawns ``nexus-lsp`` as any
editor would and talks to it over stdio. Of the server's package it shares only the
JSON-RPC converter (``nexus_lsp.lsp.converter``), so both ends read ``nexus/*``
payloads as the same plain dicts. Importing this package is cheap; pygls loads with
:mod:`nexus_lsp.client.ask`.
"""
