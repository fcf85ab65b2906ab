"""The protocol's log lines: a client's mistake is one WARNING line, a bug keeps its
traceback; each request is answered once."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from nexus_lsp.lsp.app import NexusLanguageServer, create_server
from nexus_lsp.lsp.rpc_errors import ParamsError, rpc_errors


class Wire:
    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.answers.append(json.loads(data.split(b"\r\n\r\n", 1)[1]))
        self.arrived.set()

    async def answer(self, msg_id: int) -> dict[str, Any]:
        while True:
            for answer in self.answers:
                if answer.get("id") == msg_id:
                    return answer
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 10)


@pytest.fixture
def server() -> NexusLanguageServer:
    server = create_server()

    @server.feature("test/bug")
    async def bug(ls: NexusLanguageServer, params: Any) -> None:
        raise RuntimeError("boom")

    @server.feature("test/mistake")
    async def mistake(ls: NexusLanguageServer, params: Any) -> None:
        with rpc_errors("test/mistake"):
            raise ParamsError("x: Input should be a valid string", "x")

    return server


async def test_a_bug_is_answered_32603_and_logged_with_its_traceback(
    server: NexusLanguageServer, caplog: pytest.LogCaptureFixture
) -> None:
    wire = Wire()
    server.protocol.set_writer(wire)
    with caplog.at_level(logging.INFO):
        server.protocol.handle_json({"jsonrpc": "2.0", "id": 1, "method": "test/bug"})
        answer = await wire.answer(1)
    assert answer["error"]["code"] == -32603
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


async def test_a_mistake_is_one_warning_line_without_a_traceback(
    server: NexusLanguageServer, caplog: pytest.LogCaptureFixture
) -> None:
    wire = Wire()
    server.protocol.set_writer(wire)
    with caplog.at_level(logging.INFO):
        server.protocol.handle_json({"jsonrpc": "2.0", "id": 2, "method": "test/mistake"})
        answer = await wire.answer(2)
        server.protocol.handle_json({"jsonrpc": "2.0", "id": 3, "method": "test/nope"})
        await wire.answer(3)
    assert answer["error"] == {
        "code": -32602, "message": "x: Input should be a valid string", "data": {"field": "x"}
    }
    # pygls' own "Sending data" lines are debug output (configure_logging quiets them)
    records = [r for r in caplog.records if r.name.startswith("nexus_lsp")]
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    assert "test/mistake (id 2) answered -32602: x: Input should" in records[0].getMessage()
    assert "unknown method 'test/nope'" in records[1].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert [a["id"] for a in wire.answers] == [2, 3]
