"""The real server with a workspace holding a named pipe and a file whose name is
not UTF-8: the tools answer with clear errors, the session keeps working, and the
process still ends after ``shutdown``/``exit``."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import WAIT, connected, settings


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments}


def tool_messages(model: ScriptedModelServer, request: int) -> dict[str, str]:
    messages = model.requests[request].json["messages"]
    return {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}


def write_undecodable_name(folder: Path, data: bytes) -> None:
    """Create ``caf\\xe9.txt`` in ``folder``: a name that is Latin-1, not UTF-8."""
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "wb") as handle:
        handle.write(data)


@pytest.fixture
def fifo(workspace: Path) -> Iterator[Path]:
    path = workspace / "src" / "pipe"
    os.mkfifo(path)
    yield path
    # Release a reader still blocked on it (old behaviour), so a failing run ends.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def test_a_named_pipe_gives_tool_errors_and_the_server_still_exits(
    model: ScriptedModelServer, workspace: Path, fifo: Path
) -> None:
    options = settings(model.openai_base_url, session={"toolTimeoutSeconds": 5})
    async with connected("visual-studio-code", workspace, options) as editor:
        model.extend([
            {"toolCalls": [call("r1", "read_file", path="src/pipe"),
                           call("s1", "search_text", pattern="greet")]},
            {"text": "done"},
        ])
        result = await editor.send("read the pipe")
        assert result["stopReason"] == "endTurn"
        assert [c["status"] for c in result["toolCalls"]] == ["failed", "completed"]
        tools = tool_messages(model, 1)
        assert tools["r1"] == (
            "read_file: failed: src/pipe is a named pipe (FIFO), not a regular file; "
            "only files can be read"
        )
        assert tools["s1"] == "src/app.py:1: def greet(name):"
        process = editor.server_process
        assert process is not None
    # connected() has sent shutdown and exit; stdin is still open here.
    assert await asyncio.wait_for(process.wait(), WAIT) == 0


async def test_a_name_that_is_not_utf8_reaches_the_model_escaped_and_the_session_goes_on(
    model: ScriptedModelServer, workspace: Path
) -> None:
    write_undecodable_name(workspace / "src", b"greet in a strangely named file\n")
    options = settings(model.openai_base_url)
    async with connected("visual-studio-code", workspace, options) as editor:
        model.extend([
            {"toolCalls": [call("l1", "list_directory", path="src"),
                           call("s1", "search_text", pattern="greet")]},
            {"text": "seen"},
            {"text": "second turn"},
        ])
        first = await editor.send("list")
        assert first["stopReason"] == "endTurn", first
        tools = tool_messages(model, 1)
        assert tools["l1"] == "app.py\ncaf\\xe9.txt"
        assert tools["s1"].splitlines()[1] == "src/caf\\xe9.txt:1: greet in a strangely named file"
        second = await editor.send("again", session_id=first["sessionId"])
        assert second["stopReason"] == "endTurn" and second["content"] == "second turn"
