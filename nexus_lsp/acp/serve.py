"""Running the ACP door: ``nexus-lsp acp`` over stdio, newline-delimited JSON.

stdout carries the protocol only: logs go to stderr (warnings and up) and to
``--log-file`` (everything), and ``sys.stdout`` is pointed at stderr while serving so
a stray ``print`` cannot corrupt the stream. Returns when stdin closes or on
SIGTERM/SIGINT, after running turns are cancelled and the stores closed.

This module is light (the standard library): a first message that is a valid
``initialize`` is answered (:mod:`nexus_lsp.acp.hello`) before the ACP package and
pydantic are imported, so an editor's spawn → ``initialize`` is not slowed by them.
The package's stdio transport drops a line that is not JSON silently (or ends the
receive loop on one that is not an object) where JSON-RPC wants an error answer:
:class:`StdioTransport` replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nexus_lsp.acp.hello import client_fs, initialize_answer
from nexus_lsp.acp.transport import StdioTransport, stdin_reader
from nexus_lsp.keys import RedactingLogFilter

if TYPE_CHECKING:
    from nexus_lsp.host.settings_files import SettingsLayer

__all__ = ["serve_acp"]

log = logging.getLogger(__name__)

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
def _configure_logging(log_file: str | None) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if log_file else logging.INFO)
    redact = RedactingLogFilter()
    stderr = logging.StreamHandler(sys.__stderr__)
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(logging.Formatter(_FORMAT))
    stderr.addFilter(redact)
    root.addHandler(stderr)
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(redact)
        root.addHandler(handler)
    for name in ("aiosqlite", "httpx", "httpcore", "asyncio"):
        logging.getLogger(name).setLevel(logging.INFO if log_file else logging.WARNING)


async def _serve(layers: Sequence[SettingsLayer], provider_factory: Any) -> None:
    transport = StdioTransport(await stdin_reader(sys.stdin.buffer), sys.stdout.buffer)
    sys.stdout = sys.stderr  # a stray print goes to stderr, never into the wire
    first = await transport.receive()
    if first is None:
        return
    early = initialize_answer(first)
    if early is not None:  # answered before the ACP package and pydantic load
        await transport.send(early)
    else:
        transport.push_back(first)
    from nexus_lsp.acp.agent import NexusAgent
    from nexus_lsp.acp.connection import connect

    agent = NexusAgent(layers, provider_factory)
    if early is not None:
        agent.client_fs(*client_fs(first["params"]))
    transport.on_cancel_prompt = agent.cancel_turn
    conn = connect(agent, transport)
    loop = asyncio.get_running_loop()
    listening = asyncio.ensure_future(conn.listen())
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, listening.cancel)
    try:
        await listening
    except asyncio.CancelledError:
        log.info("ACP: stopped by a signal")
    finally:
        await agent.aclose()
        with contextlib.suppress(Exception):
            await conn.close()


def serve_acp(
    layers: Sequence[SettingsLayer],
    log_file: str | None,
    provider_factory: Any = None,
) -> int:
    """Serve until stdin closes; ``provider_factory`` replaces the real providers (tests)."""
    _configure_logging(log_file)
    saved = sys.stdout
    try:
        asyncio.run(_serve(layers, provider_factory))
    finally:
        sys.stdout = saved
    return 0
