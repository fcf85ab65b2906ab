"""Two servers on one workspace, as two editor windows on one folder (issue 11 #4)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import WAIT, connected, rpc_error, settings

STALLING = {"text": "I am thinking about", "chunkSize": 4, "fault": {"stallAfterChunks": 2}}


async def test_a_turn_running_in_one_window_is_left_alone_by_the_other(
    model: ScriptedModelServer, workspace: Path
) -> None:
    options = settings(model.openai_base_url)
    async with connected("visual-studio-code", workspace, options) as one, \
            connected("neovim", workspace, options) as two:
        model.push({"text": "First answer."})
        sid = (await one.send("first"))["sessionId"]
        model.push(STALLING)
        running = one.start_request(wire.SESSION_SEND, {"sessionId": sid, "prompt": "second"})
        await one.wait_for_update(
            lambda u: u["kind"] == wire.UPDATE_CONTENT and u["turnId"] == 2)

        listed = (await two.request(wire.SESSION_LIST, {}))["sessions"]
        assert [(s["sessionId"], s["status"]) for s in listed] == [(sid, "running")]
        for method, params in [(wire.SESSION_LOAD, {"sessionId": sid}),
                               (wire.SESSION_SEND, {"sessionId": sid, "prompt": "mine"}),
                               (wire.SESSION_DELETE, {"sessionId": sid})]:
            with pytest.raises(Exception) as caught:
                await two.request(method, params)
            code, data = rpc_error(caught.value)
            assert (code, data["reason"]) == (wire.REQUEST_FAILED, "sessionBusy"), method
            assert "another nexus-lsp process" in str(caught.value)

        one.protocol.notify(wire.SESSION_CANCEL, {"sessionId": sid})
        assert (await asyncio.wait_for(running, WAIT))["stopReason"] == "cancelled"
        model.push({"text": "Third answer."})
        assert (await two.send("third", sid))["stopReason"] == "endTurn"
        loaded = await one.request(wire.SESSION_LOAD, {"sessionId": sid})
    assert [(m["role"], m["content"]) for m in loaded["messages"][1:]] == [
        ("user", "first"), ("assistant", "First answer."),
        ("user", "second"), ("assistant", "I am thinking about"[:8]),
        ("user", "third"), ("assistant", "Third answer."),
    ]
