"""``nexus-lsp ask`` and permissions: asking on a real terminal (a pty), ``--mode``,
``--allow``, and the clear refusal when stdin is not a terminal."""

from __future__ import annotations

import asyncio
import os
import pty
import sys
from pathlib import Path

import pytest

from nexus_lsp.cli import EXIT_OK
from nexus_lsp.testing import ScriptedModelServer

from .test_cli import RUN_TIMEOUT, cli, cli_env, model, settings, workspace

__all__ = ["model", "workspace"]  # the fixtures of test_cli, used here

TOUCH = {"toolCalls": [{"id": "t1", "name": "run_command",
                        "arguments": {"command": "touch ran.txt"}}]}


def tool_result(model: ScriptedModelServer, call_id: str) -> str:
    messages = model.requests[-1].json["messages"]
    (content,) = [m["content"] for m in messages if m.get("tool_call_id") == call_id]
    return str(content)


async def test_without_a_terminal_commands_are_refused_clearly(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([TOUCH, {"text": "could not run it"}])
    run = await cli("ask", "--settings", settings(model), "run it", cwd=workspace)
    assert run.code == EXIT_OK, run.stderr
    assert not (workspace / "ran.txt").exists()
    assert tool_result(model, "t1") == (
        "run_command: denied: no way to ask (set permissions.mode or a rule)")
    assert "run_command needed your approval, but stdin is not a terminal" in run.stderr
    assert "--allow 'PATTERN'" in run.stderr


@pytest.mark.parametrize("flags", [["--mode", "auto"], ["--allow", "touch *"]])
async def test_mode_and_allow_flags_let_the_command_run(
    flags: list[str], model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([TOUCH, {"text": "done"}])
    run = await cli("ask", "--settings", settings(model), *flags, "run it", cwd=workspace)
    assert run.code == EXIT_OK, run.stderr
    assert (workspace / "ran.txt").exists()
    assert "[exit code 0;" in tool_result(model, "t1")


async def test_plan_mode_refuses_the_command(model: ScriptedModelServer, workspace: Path) -> None:
    model.extend([TOUCH, {"text": "planned"}])
    run = await cli("ask", "--settings", settings(model), "--mode", "plan", "run", cwd=workspace)
    assert run.code == EXIT_OK, run.stderr
    assert not (workspace / "ran.txt").exists()
    assert "denied: plan mode" in tool_result(model, "t1")


async def test_on_a_terminal_the_question_is_asked_and_answered(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([TOUCH, {"text": "done"}])
    leader, follower = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "nexus_lsp", "ask", "--settings", settings(model), "run it",
            cwd=workspace, env=cli_env(), stdin=follower,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        os.close(follower)
        assert proc.stderr is not None
        seen = b""
        async with asyncio.timeout(RUN_TIMEOUT):
            while b"(Enter rejects)" not in seen:
                chunk = await proc.stderr.read(1024)
                assert chunk, seen.decode(errors="replace")
                seen += chunk
        assert b"Nexus wants to: Run `touch ran.txt`" in seen
        assert b"2) Always allow `touch *`" in seen
        os.write(leader, b"1\n")
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    finally:
        os.close(leader)
    assert proc.returncode == EXIT_OK, (seen + err).decode(errors="replace")
    assert (workspace / "ran.txt").exists()
