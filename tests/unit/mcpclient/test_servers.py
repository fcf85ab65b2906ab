"""McpServers against real servers: the in-repo fault server (SDK) and npm's."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from mcp_support import (
    EVERYTHING,
    FILESYSTEM,
    alive,
    fault_server,
    npm_servers_installed,
)

from nexus_lsp.config import McpServerSettings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.mcp import INSTALL_HINT, McpServers
from nexus_lsp.skills import SkillRegistry


def registry_of(servers: McpServers) -> SkillRegistry:
    registry = SkillRegistry(timeout_seconds=30)
    registry.replace_group("mcp", servers.skills())
    return registry


async def run(registry: SkillRegistry, name: str, args: dict[str, object],
              token: CancellationToken | None = None) -> tuple[str, str | None]:
    result, _ = await registry.run(ToolCall("c1", name, dict(args)), token or CancellationToken())
    return result.output, result.error


def pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


async def test_tools_are_listed_and_called_with_their_schemas(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    servers = await McpServers.start({"fault": fault_server(FAULT_PID_FILE=str(pid_file))},
                                     tmp_path)
    try:
        registry = registry_of(servers)
        assert {"mcp__fault__echo", "mcp__fault__add", "mcp__fault__slow"} <= set(registry.names)
        echo = next(d for d in registry.definitions() if d.name == "mcp__fault__echo")
        assert echo.parameters["properties"]["text"]["type"] == "string"
        assert echo.parameters["required"] == ["text"]
        assert registry.kind_of("mcp__fault__echo") == "mcp"

        assert await run(registry, "mcp__fault__echo", {"text": "hi"}) == ("echo: hi", None)
        output, error = await run(registry, "mcp__fault__add", {"a": 2, "b": 3})
        assert error is None and json.loads(output) == {"sum": 5}
        # invalid arguments never reach the server: the registry's own error format
        _, error = await run(registry, "mcp__fault__echo", {"text": 3})
        assert error == "mcp__fault__echo: invalidArguments: text: 3 is not of type 'string'"
        _, error = await run(registry, "mcp__fault__add", {"a": 1})
        assert error is not None and error.startswith("mcp__fault__add: invalidArguments: ")
        assert "'b' is a required property" in error
        # isError: a failure the model reads
        _, error = await run(registry, "mcp__fault__fail", {"why": "the disk is full"})
        assert error == ("mcp__fault__fail: failed: Error executing tool fail: "
                         "it failed because the disk is full")
        # an image is a short note, not the data
        assert await run(registry, "mcp__fault__picture", {}) == (
            "[image: image/png, 70 bytes]", None)
        listed = servers.list_json()
        assert listed == [{"name": "fault", "source": "settings", "transport": "stdio",
                           "status": "running", "tools": registry.names}]
    finally:
        await servers.aclose()
    assert pids(pid_file) and not any(alive(p) for p in pids(pid_file))
    assert servers.list_json()[0]["status"] == "stopped"


async def test_a_cancelled_call_reaches_the_server(tmp_path: Path) -> None:
    mark = tmp_path / "slow"
    servers = await McpServers.start({"fault": fault_server(FAULT_SLOW_MARK=str(mark))}, tmp_path)
    try:
        registry = registry_of(servers)
        token = CancellationToken()
        call = asyncio.ensure_future(run(registry, "mcp__fault__slow", {"seconds": 60}, token))
        for _ in range(500):
            if mark.exists():
                break
            await asyncio.sleep(0.02)
        assert mark.read_text() == "started"
        token.cancel("the user cancelled")
        with pytest.raises(Exception) as raised:
            await call
        assert type(raised.value).__name__ == "Cancelled"
        for _ in range(500):  # the server's handler was interrupted by notifications/cancelled
            if mark.read_text() == "cancelled":
                break
            await asyncio.sleep(0.02)
        assert mark.read_text() == "cancelled"
        # the connection is still good
        assert await run(registry, "mcp__fault__echo", {"text": "again"}) == ("echo: again", None)
    finally:
        await servers.aclose()


async def test_a_server_that_exits_at_start_is_failed_with_its_stderr(tmp_path: Path) -> None:
    told: list[str] = []
    servers = await McpServers.start({"bad": fault_server(FAULT_EXIT_AT_START="1")}, tmp_path,
                                     notify=told.append)
    try:
        [entry] = servers.list_json()
        assert entry["status"] == "failed" and entry["tools"] == []
        assert entry["error"].startswith("exited at start (Connection closed); stderr: ")
        assert "cannot open the database (exit at start)" in entry["error"]
        assert told and "MCP server bad did not start" in told[0]
        assert servers.skills() == []
    finally:
        await servers.aclose()


async def test_a_crash_mid_call_restarts_once_then_fails(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    servers = await McpServers.start({"fault": fault_server(FAULT_PID_FILE=str(pid_file))},
                                     tmp_path)
    try:
        registry = registry_of(servers)
        _, error = await run(registry, "mcp__fault__crash", {})
        assert error is not None
        assert error.startswith(
            "mcp__fault__crash: failed: MCP server fault exited during the call")
        assert "crashing now" in error
        assert servers.list_json()[0]["status"] == "stopped"  # started again at its next use
        assert await run(registry, "mcp__fault__echo", {"text": "back"}) == ("echo: back", None)
        assert len(pids(pid_file)) == 2  # restarted once
        _, error = await run(registry, "mcp__fault__crash", {})
        assert error is not None and "exited during the call" in error
        [entry] = servers.list_json()
        assert entry["status"] == "failed"
        assert entry["error"].startswith("exited again after a restart; stderr: ")
        assert "crashing now" in entry["error"]
        _, error = await run(registry, "mcp__fault__echo", {"text": "x"})
        assert error is not None
        assert error.startswith("mcp__fault__echo: failed: MCP server fault is failed")
        assert len(pids(pid_file)) == 2  # not restarted a second time
    finally:
        await servers.aclose()
    assert not any(alive(p) for p in pids(pid_file))


async def test_project_servers_start_only_when_allowed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    servers = McpServers(tmp_path)
    asked: list[str] = []

    async def refuse(name: str, config: McpServerSettings) -> str | None:
        asked.append(name)
        return "mcp_server:proj: denied: the user rejected it"

    try:
        await servers.configure({}, {"proj": fault_server(FAULT_PID_FILE=str(pid_file))})
        assert servers.list_json()[0]["status"] == "notAllowed"
        assert await servers.ensure(refuse) == []
        assert asked == ["proj"] and not pid_file.exists()
        [entry] = servers.list_json()
        assert entry["status"] == "notAllowed" and "the user rejected it" in entry["error"]
        assert await servers.ensure(refuse) == [] and asked == ["proj"]  # not asked again

        async def allow(name: str, config: McpServerSettings) -> str | None:
            asked.append(name)
            return None

        # an edited entry is a new question
        await servers.configure({}, {"proj": fault_server(FAULT_PID_FILE=str(pid_file), X="1")})
        skills = await servers.ensure(allow)
        assert asked == ["proj", "proj"] and skills and pids(pid_file)
        assert servers.list_json()[0]["status"] == "running"
    finally:
        await servers.aclose()


async def test_without_the_sdk_one_clear_message(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "nexus_lsp.mcp.connection", None)  # import fails
    told: list[str] = []
    servers = await McpServers.start({"a": fault_server(), "b": fault_server()}, tmp_path,
                                     notify=told.append)
    assert [e["status"] for e in servers.list_json()] == ["failed", "failed"]
    assert servers.list_json()[0]["error"] == INSTALL_HINT
    assert told == [f"Nexus: MCP servers are configured but {INSTALL_HINT}"]
    assert "pip install 'nexus-lsp[mcp]'" in INSTALL_HINT
    await servers.aclose()


async def test_npm_everything_and_filesystem_servers(tmp_path: Path) -> None:
    npm_servers_installed()
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "notes.txt").write_text("the filesystem server read this\n")
    servers = await McpServers.start({
        "everything": McpServerSettings(command="node", args=(str(EVERYTHING), "stdio")),
        "fs": McpServerSettings(command="node", args=(str(FILESYSTEM), str(shared))),
    }, tmp_path)
    try:
        assert [e["status"] for e in servers.list_json()] == ["running", "running"], \
            servers.list_json()
        registry = registry_of(servers)
        assert "mcp__everything__echo" in registry.names
        assert "mcp__fs__read_text_file" in registry.names
        # the server's readOnlyHint: its reads may run in parallel, its writes never
        assert registry.is_read_only("mcp__fs__read_text_file")
        assert not registry.is_read_only("mcp__fs__write_file")
        output, error = await run(registry, "mcp__everything__echo", {"message": "hello"})
        assert error is None and "hello" in output
        _, error = await run(registry, "mcp__everything__echo", {})
        assert error is not None and "invalidArguments" in error and "message" in error
        output, error = await run(registry, "mcp__fs__read_text_file",
                                  {"path": str(shared / "notes.txt")})
        assert error is None and "the filesystem server read this" in output
        _, error = await run(registry, "mcp__fs__read_text_file", {"path": "/etc/passwd"})
        assert error is not None and error.startswith("mcp__fs__read_text_file: failed: ")
    finally:
        await servers.aclose()


async def test_a_streamable_http_server(tmp_path: Path) -> None:
    """npm's server-everything over streamable HTTP on 127.0.0.1 (its own process)."""
    import socket

    npm_servers_installed()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = await asyncio.create_subprocess_exec(
        "node", str(EVERYTHING), "streamableHttp", env={**os.environ, "PORT": str(port)},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        assert node.stderr is not None
        while b"listening on port" not in (line := await asyncio.wait_for(
                node.stderr.readline(), 30)):
            assert line, "server-everything exited before listening"
        url = f"http://127.0.0.1:{port}/mcp"
        servers = await McpServers.start(
            {"web": McpServerSettings(url=url, headers={"X-Nexus-Test": "1"})}, tmp_path)
        try:
            [entry] = servers.list_json()
            assert (entry["status"], entry["transport"]) == ("running", "http"), entry
            registry = registry_of(servers)
            output, error = await run(registry, "mcp__web__echo", {"message": "over http"})
            assert error is None and "over http" in output
        finally:
            await servers.aclose()
        assert servers.list_json()[0]["status"] == "stopped"
    finally:
        node.terminate()
        await node.wait()


async def test_servers_that_cannot_be_reached_are_failed(tmp_path: Path) -> None:
    servers = await McpServers.start({
        "gone": McpServerSettings(url="http://127.0.0.1:9/mcp"),
        "nocmd": McpServerSettings(command=str(tmp_path / "no-such-server")),
    }, tmp_path, start_timeout=20)
    try:
        gone, nocmd = servers.list_json()
        assert gone["status"] == "failed" and gone["error"]
        assert nocmd["status"] == "failed"
        assert nocmd["error"].startswith("cannot run it: [Errno 2] No such file or directory")
    finally:
        await servers.aclose()


async def test_a_server_that_never_answers_is_stopped(tmp_path: Path) -> None:
    import sys

    pid_file = tmp_path / "pid"
    silent = McpServerSettings(command=sys.executable, args=(
        "-c", f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
              "time.sleep(120)"))
    servers = await McpServers.start({"silent": silent}, tmp_path, start_timeout=3)
    try:
        [entry] = servers.list_json()
        assert entry["status"] == "failed"
        assert entry["error"] == "did not answer within 3 seconds"
        assert pid_file.exists() and not alive(int(pid_file.read_text()))
    finally:
        await servers.aclose()


async def test_a_server_killed_while_idle_is_noticed_and_restarted_once(tmp_path: Path) -> None:
    import signal

    pid_file = tmp_path / "pids"
    servers = await McpServers.start({"fault": fault_server(FAULT_PID_FILE=str(pid_file))},
                                     tmp_path)

    async def status_after_kill(pid: int) -> str:
        os.kill(pid, signal.SIGKILL)
        for _ in range(500):  # noticed by the end of its stderr, not by a call
            status = str(servers.list_json()[0]["status"])
            if status != "running":
                return status
            await asyncio.sleep(0.02)
        return "running"

    try:
        registry = registry_of(servers)
        assert await status_after_kill(pids(pid_file)[0]) == "stopped"
        assert await run(registry, "mcp__fault__echo", {"text": "1"}) == ("echo: 1", None)
        assert len(pids(pid_file)) == 2
        assert await status_after_kill(pids(pid_file)[1]) == "failed"
        assert servers.list_json()[0]["error"].startswith("exited again after a restart")
    finally:
        await servers.aclose()
    assert not any(alive(p) for p in pids(pid_file))
