"""``nexus-lsp ask`` end to end: a real CLI process, a real server, the scripted model."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nexus_lsp.cli import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_MAX_ITERATIONS,
    EXIT_OK,
    EXIT_TURN_ERROR,
    EXIT_USAGE,
)
from nexus_lsp.testing import Script, ScriptedModelServer

RUN_TIMEOUT = 60.0
KEY_ENV = "NEXUS_CLI_TEST_KEY"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def session_id(self) -> str:
        match = re.search(r"session (\S+)", self.stderr)
        assert match, self.stderr
        return match.group(1)


NO_CONFIG_HOME = "/nonexistent/nexus-lsp-test-config"


def cli_env(**extra: str) -> dict[str, str]:
    # the user's own settings file never leaks into a test
    env = {**os.environ, "NO_COLOR": "1", "XDG_CONFIG_HOME": NO_CONFIG_HOME}
    for name in (KEY_ENV, "NEXUS_SETTINGS", "NEXUS_PROVIDER", "NEXUS_BASE_URL", "NEXUS_MODEL"):
        env.pop(name, None)
    return {**env, **extra}


async def start_cli(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, stdin: bool = False
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nexus_lsp",
        *args,
        cwd=cwd,
        env=dict(env) if env is not None else cli_env(),
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, stdin: bytes | None = None) -> Run:
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), RUN_TIMEOUT)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        pytest.fail(f"nexus-lsp did not finish:\n{err.decode(errors='replace')}")
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def cli(*args: str, cwd: Path, stdin: bytes | None = None, **kw: Any) -> Run:
    proc = await start_cli(*args, cwd=cwd, stdin=stdin is not None, **kw)
    return await finish(proc, stdin)


def settings(model: ScriptedModelServer, **session: Any) -> str:
    return json.dumps(
        {
            "provider": {
                "kind": "openai",
                "baseUrl": model.openai_base_url,
                "model": "scripted",
                "apiKeyEnv": KEY_ENV,
                "maxRetries": 0,
            },
            "session": session,
        }
    )


def prompts_seen(model: ScriptedModelServer) -> list[str]:
    """The user messages of the last request the model server received."""
    body = model.requests[-1].json
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


def only_child(pid: int) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


@pytest.fixture
async def model() -> AsyncIterator[ScriptedModelServer]:
    async with ScriptedModelServer(Script.from_dict({"responses": []})) as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text('NAME = "wrold"\nprint(f"hello {NAME}")\n', "utf-8")
    return root


async def test_ask_streams_the_answer_applies_edits_and_names_the_transcript(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend(
        [
            {
                "text": "Let me read it. ",
                "toolCalls": [{"name": "read_file", "arguments": {"path": "src/app.py"}}],
                "chunkSize": 4,
            },
            {
                "toolCalls": [
                    {
                        "name": "edit_file",
                        "arguments": {"path": "src/app.py", "oldText": "wrold", "newText": "world"},
                    },
                    {"name": "write_file", "arguments": {"path": "NOTES.md", "content": "é ok\n"}},
                ]
            },
            {"text": "Fixed the typo in `src/app.py`.", "chunkSize": 5},
        ]
    )
    run = await cli("ask", "--settings", settings(model), "Fix the typo", cwd=workspace)
    assert run.code == EXIT_OK, run.stderr
    # Only the answer is on stdout: every content delta of the turn, in order.
    assert run.stdout == "Let me read it. Fixed the typo in `src/app.py`.\n"
    assert (workspace / "src" / "app.py").read_text("utf-8").startswith('NAME = "world"\n')
    assert (workspace / "NOTES.md").read_text("utf-8") == "é ok\n"
    assert "⚙ read_file src/app.py … ok" in run.stderr
    assert "⚙ edit_file src/app.py … ok" in run.stderr
    session_id = run.session_id()
    transcript = Path(".nexus", "sessions", session_id, "context.md")
    assert f"transcript: {transcript}" in run.stderr
    assert "Fixed the typo" in (workspace / transcript).read_text("utf-8")
    assert model.validation_errors == []


async def test_ask_continues_a_session(model: ScriptedModelServer, workspace: Path) -> None:
    model.extend([{"text": "First answer."}, {"text": "Second answer."}, {"text": "Third."}])
    first = await cli("ask", "--settings", settings(model), "first question", cwd=workspace)
    assert first.code == EXIT_OK, first.stderr
    session_id = first.session_id()

    args = ("ask", "--settings", settings(model), "--session", session_id, "second question")
    second = await cli(*args, cwd=workspace)
    assert second.code == EXIT_OK, second.stderr
    assert second.session_id() == session_id
    assert prompts_seen(model) == ["first question", "second question"]

    # 'last' is the most recent session; the prompt can come from stdin.
    args = ("ask", "--settings", settings(model), "--session", "last", "-")
    third = await cli(*args, cwd=workspace, stdin=b"third question\n")
    assert third.code == EXIT_OK, third.stderr
    assert prompts_seen(model)[-1].strip() == "third question"
    assert len(prompts_seen(model)) == 3


async def test_a_provider_error_ends_the_turn_with_its_code(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push({"fault": {"status": 401, "message": "invalid api key"}})
    log_file = workspace.parent / "server.log"
    args = ("ask", "--settings", settings(model), "--log-file", str(log_file), "hello")
    run = await cli(*args, cwd=workspace)
    assert run.code == EXIT_TURN_ERROR
    assert "providerAuth" in run.stderr
    assert run.session_id()  # the session exists and is named even when the turn failed
    assert log_file.read_text("utf-8")  # --log-file reached the server


async def test_max_iterations_has_its_own_exit_code(
    model: ScriptedModelServer, workspace: Path
) -> None:
    read = {"name": "read_file", "arguments": {"path": "src/app.py"}}
    model.extend([{"toolCalls": [read]}, {"toolCalls": [read]}, {"text": "never reached"}])
    run = await cli("ask", "--settings", settings(model, maxIterations=1), "loop", cwd=workspace)
    assert run.code == EXIT_MAX_ITERATIONS, run.stderr
    assert "maxIterations" in run.stderr


async def test_an_unknown_session_is_refused(model: ScriptedModelServer, workspace: Path) -> None:
    args = ("ask", "--settings", settings(model), "--session", "no-such-session", "hi")
    run = await cli(*args, cwd=workspace)
    assert run.code == EXIT_FAILED
    assert "unknownSession" in run.stderr
    assert model.requests == []


async def test_ctrl_c_cancels_the_turn_and_keeps_the_session_valid(
    model: ScriptedModelServer, workspace: Path
) -> None:
    model.push(
        {
            "text": "Thinking hard about this",
            "chunkSize": 4,
            "toolCalls": [{"name": "read_file", "arguments": {"path": "src/app.py"}}],
            "fault": {"stallAfterChunks": 2},
        }
    )
    proc = await start_cli("ask", "--settings", settings(model), "take your time", cwd=workspace)
    await model.wait_for_requests(1, timeout=RUN_TIMEOUT)
    assert proc.stdout is not None
    await asyncio.wait_for(proc.stdout.read(4), RUN_TIMEOUT)  # the stream has started
    proc.send_signal(signal.SIGINT)
    run = await finish(proc)
    assert run.code == EXIT_CANCELLED, run.stderr
    assert "turn cancelled" in run.stderr
    await model.wait_for_disconnect(timeout=RUN_TIMEOUT)  # the model stream was closed

    model.push({"text": "Back again."})
    args = ("ask", "--settings", settings(model), "--session", run.session_id(), "go on")
    again = await cli(*args, cwd=workspace)
    assert again.code == EXIT_OK, again.stderr
    assert again.stdout == "Back again.\n"
    assert prompts_seen(model) == ["take your time", "go on"]
    assert model.validation_errors == []


async def test_a_second_ctrl_c_quits_at_once(model: ScriptedModelServer, workspace: Path) -> None:
    model.push({"text": "Stalling", "chunkSize": 4, "fault": {"stallAfterChunks": 1}})
    proc = await start_cli("ask", "--settings", settings(model), "wait", cwd=workspace)
    await model.wait_for_requests(1, timeout=RUN_TIMEOUT)
    assert proc.stdout is not None and proc.stderr is not None
    await asyncio.wait_for(proc.stdout.read(4), RUN_TIMEOUT)
    # Freeze the server so the first Ctrl-C cannot complete: only quitting ends the wait.
    server_pid = only_child(proc.pid)
    os.kill(server_pid, signal.SIGSTOP)
    try:
        proc.send_signal(signal.SIGINT)
        line = b""
        while b"cancelling" not in line:
            line = await asyncio.wait_for(proc.stderr.readline(), RUN_TIMEOUT)
            assert line, "ask exited before cancelling"
        proc.send_signal(signal.SIGINT)
        run = await finish(proc)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server_pid, signal.SIGCONT)
    assert run.code == EXIT_CANCELLED, run.stderr
    assert "quitting" in run.stderr
    await model.wait_for_disconnect(timeout=RUN_TIMEOUT)  # the frozen server was killed
    with pytest.raises(ProcessLookupError):
        os.kill(server_pid, 0)


async def test_invalid_settings_name_the_field(workspace: Path) -> None:
    bad = json.dumps({"session": {"maxIterations": 0}})
    run = await cli("ask", "--settings", bad, "hi", cwd=workspace)
    assert run.code == EXIT_USAGE
    assert "session.maxIterations" in run.stderr
    run = await cli("ask", "--settings", "{not json", "hi", cwd=workspace)
    assert run.code == EXIT_USAGE
    assert "--settings: invalid JSON at line 1" in run.stderr
    run = await cli("ask", "--settings", "@missing.json", "hi", cwd=workspace)
    assert run.code == EXIT_USAGE
    assert "missing.json" in run.stderr


async def test_settings_from_a_file_and_the_environment(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    model.push({"text": "ok"})
    settings_file = tmp_path / "nexus.json"
    settings_file.write_text(json.dumps({"provider": {"model": "from-file", "maxRetries": 0}}))
    env = cli_env(NEXUS_PROVIDER="openai", NEXUS_BASE_URL=model.openai_base_url)
    args = ("ask", "--settings", f"@{settings_file}", "hi")
    run = await cli(*args, cwd=workspace, env=env)
    assert run.code == EXIT_OK, run.stderr
    assert model.requests[-1].json["model"] == "from-file"


async def test_ask_reads_the_user_and_workspace_settings_files(
    model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    model.extend([{"text": "ok"}, {"text": "ok"}])
    config = tmp_path / "config"
    (config / "nexus-lsp").mkdir(parents=True)
    (config / "nexus-lsp" / "settings.json").write_text(json.dumps({"provider": {
        "kind": "openai", "baseUrl": model.openai_base_url, "model": "from-user",
        "maxRetries": 0}}))
    env = cli_env(XDG_CONFIG_HOME=str(config))
    run = await cli("ask", "hi", cwd=workspace, env=env)
    assert run.code == EXIT_OK, run.stderr
    assert model.requests[-1].json["model"] == "from-user"
    (workspace / ".nexus" / "settings.json").write_text(
        json.dumps({"nexus": {"provider": {"model": "from-workspace"}}}))
    run = await cli("ask", "hi", cwd=workspace, env=env)
    assert run.code == EXIT_OK, run.stderr
    assert model.requests[-1].json["model"] == "from-workspace"
    (workspace / ".nexus" / "settings.json").write_text('{"session": {"maxIterations": 0}}')
    run = await cli("ask", "hi", cwd=workspace, env=env)
    assert run.code == EXIT_USAGE
    assert ".nexus/settings.json: invalid settings: session.maxIterations" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tcp", "--port", "8765", "--host", "0.0.0.0"], "non-loopback"),
        (["--tcp", "--port", "8765", "--host", "192.168.1.10"], "non-loopback"),
        (["--tcp"], "--tcp needs --port"),
        (["--port", "8765"], "--port needs --tcp"),
    ],
)
async def test_serve_refuses_bad_transport_options(
    args: Sequence[str], message: str, tmp_path: Path
) -> None:
    run = await cli(*args, cwd=tmp_path)
    assert run.code == EXIT_USAGE
    assert message in run.stderr


async def test_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    run = await cli("--version", cwd=tmp_path)
    assert run.code == EXIT_OK
    assert run.stdout.strip() == f"nexus-lsp {version('nexus-lsp')}"
