"""A session's tool source (MCP tools): asked at the start of each turn with tools,
its skills offered and run; its failure costs only its tools; a cancel while it works
ends the turn ``cancelled``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.skills.base import Skill, SkillOutput
from nexus_lsp.skills.schema import RawArguments, SchemaSkill
from nexus_lsp.testing.fake_provider import FakeAnswer

from .conftest import SessionFactory, assert_valid_history


class Greet(SchemaSkill):
    name = "mcp__demo__greet"
    description = "greets"
    kind = "mcp"
    input_schema = {"type": "object", "properties": {"who": {"type": "string"}},
                    "required": ["who"]}

    async def run(self, args: RawArguments, token: Any) -> SkillOutput:
        return SkillOutput(f"hello {args.values['who']}")


async def test_the_sources_tools_are_offered_and_run(make_session: SessionFactory) -> None:
    session, provider, _ = make_session(
        FakeAnswer(tool_calls=(ToolCall("g", "mcp__demo__greet", {"who": "you"}),)),
        FakeAnswer(text=["done"]), FakeAnswer(text=["second"]))
    turns: list[int] = []

    async def source(session_id: str, turn_id: int,
                     token: CancellationToken) -> Sequence[Skill[Any]]:
        turns.append(turn_id)
        return [Greet()] if turn_id == 1 else []

    session.tool_source = source
    result = await session.send("greet")
    assert result.stop_reason == "endTurn"
    assert [r.status for r in result.tool_calls] == ["completed"]
    assert "mcp__demo__greet" in [t.name for t in provider.tools_seen[0]]
    assert session.history[-2].content == "hello you"
    await session.send("again")
    assert turns == [1, 2]
    assert "mcp__demo__greet" not in [t.name for t in provider.tools_seen[-1]]  # gone with it


async def test_a_failing_source_costs_only_its_tools(
    make_session: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    session, provider, _ = make_session(FakeAnswer(text=["fine"]))

    async def source(session_id: str, turn_id: int,
                     token: CancellationToken) -> Sequence[Skill[Any]]:
        raise RuntimeError("the MCP package broke")

    session.tool_source = source
    result = await session.send("hi")
    assert result.stop_reason == "endTurn" and result.content == "fine"
    assert "listing the MCP tools failed" in caplog.text
    assert "read_file" in [t.name for t in provider.tools_seen[0]]


async def test_a_cancel_while_the_source_works_ends_the_turn(
    make_session: SessionFactory
) -> None:
    session, _, _ = make_session(FakeAnswer(text=["never"]))
    started = asyncio.Event()

    async def source(session_id: str, turn_id: int,
                     token: CancellationToken) -> Sequence[Skill[Any]]:
        started.set()
        await asyncio.Event().wait()  # a server that never answers (a question pending)
        return []

    session.tool_source = source
    token = CancellationToken()
    turn = asyncio.ensure_future(session.send("hi", cancel_token=token))
    await started.wait()
    token.cancel("the user cancelled")
    result = await turn
    assert result.stop_reason == "cancelled"
    assert_valid_history(session.history)
