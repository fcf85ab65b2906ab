"""Log records to the editor: only after initialize, without recursion, pygls kept quiet."""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from nexus_lsp.lsp.logs import LspLogHandler


class FakeServer:
    def __init__(self) -> None:
        self.sent: list[types.LogMessageParams] = []
        self.log = logging.getLogger("nexus_lsp.test.logs.inner")

    def window_log_message(self, params: types.LogMessageParams) -> None:
        self.sent.append(params)
        self.log.warning("sending logs must not log back to the editor")


def make_logger(handler: LspLogHandler) -> logging.Logger:
    logger = logging.getLogger("nexus_lsp.test.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


async def test_records_go_to_the_editor_after_attach_only() -> None:
    handler = LspLogHandler()
    logger = make_logger(handler)
    server = FakeServer()
    server.log.handlers[:] = [handler]
    server.log.propagate = False
    logger.info("before initialize")
    handler.attach(server)  # type: ignore[arg-type]
    logger.info("hello %s", "editor")
    logger.error("broken")
    logger.debug("too detailed")
    assert [(m.type, m.message) for m in server.sent] == [
        (types.MessageType.Info, "INFO nexus_lsp.test.logs: hello editor"),
        (types.MessageType.Error, "ERROR nexus_lsp.test.logs: broken"),
    ]
    handler.detach()
    logger.info("after exit")
    assert len(server.sent) == 2


async def test_pygls_chatter_is_not_forwarded() -> None:
    handler = LspLogHandler()
    server = FakeServer()
    handler.attach(server)  # type: ignore[arg-type]
    record: Any = logging.LogRecord("pygls.protocol", logging.INFO, __file__, 1, "Sending data",
                                    None, None)
    handler.handle(record)
    warning = logging.LogRecord("pygls.protocol", logging.WARNING, __file__, 1, "odd", None, None)
    handler.handle(warning)
    assert [m.message for m in server.sent] == ["WARNING pygls.protocol: odd"]
