"""``python -m nexus_lsp.lsp``: the language server on stdio (or ``--tcp``).

The user-facing entry point is ``nexus-lsp`` (``nexus_lsp.cli``); this one serves
tests and debugging without the CLI.
"""

from __future__ import annotations

import argparse

from nexus_lsp.lsp import serve_stdio, serve_tcp


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nexus_lsp.lsp")
    parser.add_argument("--stdio", action="store_true", help="serve on stdio (the default)")
    parser.add_argument("--tcp", action="store_true", help="serve on TCP instead")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address for --tcp")
    parser.add_argument("--port", type=int, default=2087, help="port for --tcp")
    parser.add_argument("--log-file", default=None, help="also write the log to this file")
    args = parser.parse_args(argv)
    if args.tcp:
        try:
            serve_tcp(args.host, args.port, args.log_file)
        except ValueError as exc:
            parser.error(str(exc))
    else:
        serve_stdio(args.log_file)


if __name__ == "__main__":
    main()
