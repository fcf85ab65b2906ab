"""The Agent Client Protocol front door (``nexus-lsp acp``), on ``agent-client-protocol``.

A translation layer as thin as ``lsp/``: ACP methods → the host's workspace runtimes
(:mod:`nexus_lsp.acp.agent`), session events → ``session/update``
(:mod:`nexus_lsp.acp.updates`), file tools → ``fs/*`` (:mod:`nexus_lsp.acp.workspace`).
Only this package imports the ACP library, and only when ``nexus-lsp acp`` runs.
"""
