"""The ACP door end to end: the ACP package's client drives ``nexus-lsp acp``
(a real subprocess) against the scripted model server (protocol-v2 §6)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from acp import RequestError, helpers

from nexus_lsp.testing import ScriptedModelServer

from .acp_support import acp_connected, kind_of
from .lsp_support import WAIT, settings


def texts(updates: list[Any]) -> str:
    return "".join(u.content.text for u in updates)


async def test_initialize_new_prompt_and_updates(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"text": "Hello from the model.", "reasoning": "Let me think.",
                "usage": {"inputTokens": 120, "outputTokens": 8}})
    async with acp_connected(settings(model.openai_base_url)) as (editor, conn):
        new = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        sid = new.session_id
        answer = await conn.prompt(session_id=sid, prompt=[helpers.text_block("hi")])
        assert answer.stop_reason == "end_turn"
        assert texts(editor.of(sid, "agent_message_chunk")) == "Hello from the model."
        assert texts(editor.of(sid, "agent_thought_chunk")) == "Let me think."
        usage = editor.of(sid, "usage_update")
        assert [(u.used, u.size) for u in usage] == [(128, 128_000)]
        commands = await editor.wait_for(
            lambda s, u: s == sid and kind_of(u) == "available_commands_update")
        assert [c.name for c in commands.available_commands] == ["compact", "fork", "revert"]
        info = editor.of(sid, "session_info_update")
        assert info and info[0].title
