"""The LSP layer: the only package that imports pygls or lsprotocol.

``serve_stdio`` and ``serve_tcp`` run the language server (protocol v1, see
docs/protocol.md) until the client leaves. Importing this package is cheap; the
server modules load when a server starts.
"""

from __future__ import annotations

__all__ = ["serve_stdio", "serve_tcp"]


def serve_stdio(log_file: str | None = None) -> int:
    """Serve one client on stdin/stdout; blocks until it is gone; returns the exit code."""
    from nexus_lsp.lsp.serve import serve_stdio as serve

    return serve(log_file)


def serve_tcp(host: str, port: int, log_file: str | None = None) -> int:
    """Serve one client on ``host:port`` (loopback only); blocks until it is gone."""
    from nexus_lsp.lsp.serve import serve_tcp as serve

    return serve(host, port, log_file)
