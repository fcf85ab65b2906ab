"""A bare pygls language server: the baseline for start-up time and idle memory.

Run as a script (``python bench/bare_server.py``) on the same interpreter as
nexus-lsp. It registers nothing: what it costs is what pygls and lsprotocol cost,
the floor any pygls server stands on.
"""

from __future__ import annotations

from pygls.lsp.server import LanguageServer


def main() -> None:
    LanguageServer("bare-pygls", "1.0").start_io()


if __name__ == "__main__":
    main()
