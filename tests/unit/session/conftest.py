"""Fixtures for session-core tests: a workspace folder, skills on it, a session factory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nexus_lsp.config import SessionSettings
from nexus_lsp.core.events import SessionEvent
from nexus_lsp.core.messages import Message
from nexus_lsp.session import Session
from nexus_lsp.skills import DiskWorkspace, SkillRegistry, builtin_skills
from nexus_lsp.skills.base import Skill, SkillArguments, SkillOutput
from nexus_lsp.testing.fake_provider import FakeAnswer, FakeProvider


class WaitArgs(SkillArguments):
    name: str


class WaitSkill(Skill[WaitArgs]):
    """A tool that runs until released (or cancelled); records starts and ends."""

    name = "wait"
    description = "waits"
    arguments = WaitArgs
    read_only = True

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.release = asyncio.Event()
        self.all_started = asyncio.Event()
        self.expected = 1

    async def run(self, args: WaitArgs, token: Any) -> SkillOutput:
        self.started.append(args.name)
        if len(self.started) >= self.expected:
            self.all_started.set()
        await self.release.wait()
        self.finished.append(args.name)
        return SkillOutput(f"waited {args.name}")


@pytest.fixture
def workspace(tmp_path: Path) -> DiskWorkspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.txt").write_text("alpha\nbeta\ngamma\n", encoding="utf-8")
    return DiskWorkspace(root)


@pytest.fixture
def wait_skill() -> WaitSkill:
    return WaitSkill()


SessionFactory = Callable[..., tuple[Session, FakeProvider, list[SessionEvent]]]


@pytest.fixture
def make_session(workspace: DiskWorkspace, wait_skill: WaitSkill) -> SessionFactory:
    def make(
        *answers: FakeAnswer, tools: bool = True, **settings: Any
    ) -> tuple[Session, FakeProvider, list[SessionEvent]]:
        provider = FakeProvider(list(answers))
        session_settings = SessionSettings(**settings)
        registry = None
        if tools:
            registry = SkillRegistry(
                [*builtin_skills(workspace, session_settings.max_tool_output_chars), wait_skill],
                timeout_seconds=session_settings.tool_timeout_seconds,
                max_output_chars=session_settings.max_tool_output_chars,
            )
        session = Session(
            provider=provider, settings=session_settings, system_prompt="sys", registry=registry
        )
        events: list[SessionEvent] = []
        session.add_sink(events.append)
        return session, provider, events

    return make


def assert_valid_history(messages: list[Message]) -> None:
    """What providers accept: each tool call answered once, right after it, in order."""
    i = 0
    while i < len(messages):
        message = messages[i]
        assert message.role != "tool", f"result without a call at {i}: {message}"
        i += 1
        if message.role == "assistant" and message.tool_calls:
            ids = [m.tool_call_id for m in messages[i : i + len(message.tool_calls)]]
            assert ids == [c.id for c in message.tool_calls], (i, ids, message.tool_calls)
            i += len(message.tool_calls)
