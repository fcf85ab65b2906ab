"""``python -m nexus_lsp.testing --script FILE.json [--port 0]``: the scripted model server.

For other processes (the VS Code extension's tests, benchmarks). Prints exactly one
line on stdout, ``listening http://127.0.0.1:PORT``, flushed, once it accepts
connections; logs to stderr; serves until SIGTERM or SIGINT, then exits 0. A script
that does not validate is reported on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from nexus_lsp.testing.script import Script, ScriptError
from nexus_lsp.testing.server import RecordedRequest, ScriptedModelServer

log = logging.getLogger("nexus_lsp.testing")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nexus_lsp.testing",
        description="Serve a scripted model (OpenAI and Anthropic wire formats) on 127.0.0.1.",
    )
    parser.add_argument("--script", required=True, help="the JSON script file")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        script = Script.load(args.script)
    except ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"error: --port: {args.port} is not a TCP port (0-65535)", file=sys.stderr)
        return 2
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(_serve(script, args.port))
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


async def _serve(script: Script, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with ScriptedModelServer(script, port=port, on_request=_log_request) as server:
        sys.stdout.write(f"listening {server.url}\n")
        sys.stdout.flush()
        await stop.wait()
        log.info("stopping: %d requests, %d validation errors, %d disconnects",
                 len(server.requests), len(server.validation_errors), server.disconnects)


def _log_request(request: RecordedRequest) -> None:
    log.info("%s %s -> response %s", request.method, request.path, request.response_index)


if __name__ == "__main__":
    sys.exit(main())
