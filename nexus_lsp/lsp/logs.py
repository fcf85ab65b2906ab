"""Server logging: records go to the editor (``window/logMessage``), stderr and a file.

stdout is the JSON-RPC wire, so nothing may ever be printed there: logging goes to
stderr (editors show it in their server log), to ``--log-file`` when given, and,
once the client has initialized, to the editor with ``window/logMessage``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from lsprotocol import types

from nexus_lsp import wire
from nexus_lsp.keys import RedactingLogFilter

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

__all__ = ["LspLogHandler", "configure_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# pygls logs every message it sends at INFO: forwarding those would echo the wire.
_QUIET_LOGGERS = ("pygls", "asyncio", "httpx", "httpcore", "aiosqlite",
                  "httpx2", "httpcore2", "mcp")  # the MCP SDK and its HTTP client

_LEVELS = (
    (logging.ERROR, types.MessageType.Error),
    (logging.WARNING, types.MessageType.Warning),
    (logging.INFO, types.MessageType.Info),
)


class LspLogHandler(logging.Handler):
    """Forwards log records to the editor with ``window/logMessage``.

    Records are dropped until :meth:`attach` is called (after ``initialize``: a
    client may not receive notifications before). Sending a notification may log
    in turn, so re-entrant records are dropped instead of recursing; records from
    other threads are handed to the event loop so the wire is only written there.
    """

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._server: LanguageServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None
        self._emitting = False
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def attach(self, server: LanguageServer) -> None:
        """Start forwarding to ``server``'s client; call from the event loop."""
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()

    def detach(self) -> None:
        self._server = None
        self._loop = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._server is None or self._loop is None or self._emitting:
            return
        if record.levelno < logging.WARNING and record.name.startswith("pygls"):
            return  # pygls' per-message INFO records would echo the wire back
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        kind = next((t for lvl, t in _LEVELS if record.levelno >= lvl), types.MessageType.Log)
        if threading.get_ident() == self._thread_id:
            self._send(kind, message)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._send, kind, message)

    def _send(self, kind: types.MessageType, message: str) -> None:
        server = self._server
        if server is None or self._emitting:
            return
        self._emitting = True
        try:
            server.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # a closed pipe must not break logging elsewhere
            pass
        finally:
            self._emitting = False


class _ExpectedRpcErrors(logging.Filter):
    """Drops pygls' traceback for errors we answer on purpose (bad params, unknown
    session, cancelled): they are normal answers, logged by us at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pygls.exceptions import JsonRpcException

        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, JsonRpcException) and exc.code in _EXPECTED_CODES)


_EXPECTED_CODES = frozenset({wire.INVALID_PARAMS, wire.REQUEST_CANCELLED, wire.REQUEST_FAILED})


def configure_logging(log_file: str | None, editor: LspLogHandler | None) -> None:
    """Root logging for a server process: stderr, the optional file and the editor."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if log_file else logging.INFO)
    redact = RedactingLogFilter()  # API keys, at every level, on every handler
    stderr = logging.StreamHandler()  # stderr: stdout is the wire
    stderr.addFilter(redact)
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(stderr)
    if log_file:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(_FORMAT))
        file_handler.addFilter(redact)
        root.addHandler(file_handler)
    if editor is not None:
        editor.addFilter(redact)
        root.addHandler(editor)
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_ExpectedRpcErrors())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if log_file else logging.WARNING)
