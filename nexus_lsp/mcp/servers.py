"""McpServers: the MCP servers of a workspace (or of one ACP session), and their tools.

Light on purpose: the SDK is imported (``connection.py``) only when a server starts,
so a workspace without servers never loads it.

- :meth:`McpServers.configure` takes the configured servers (settings and project):
  a changed or removed server is stopped; nothing starts here.
- :meth:`McpServers.ensure` starts what is not running yet, in parallel, asking the
  ``allow`` callback first for each project server not yet allowed, and returns the
  skills of every running server (``mcp__<server>__<tool>``).
- A server that exits (idle or mid-call) is started again once, at its next use; a
  second exit leaves it ``failed`` with the tail of its stderr.
- :meth:`McpServers.start` is the one-call form for a door that has trusted configs
  (ACP's ``session/new`` ``mcpServers``); :meth:`aclose` stops every server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nexus_lsp.config import McpServerSettings
from nexus_lsp.errors import ToolError
from nexus_lsp.mcp.project import PROJECT_FILE
from nexus_lsp.mcp.skill import McpToolSkill, make_tool_skill, tool_name

if TYPE_CHECKING:
    from nexus_lsp.mcp.connection import McpConnection

__all__ = ["INSTALL_HINT", "Allow", "McpServers", "ServerState", "tool_name"]

log = logging.getLogger(__name__)

Status = Literal["running", "stopped", "failed", "notAllowed"]
Source = Literal["settings", "project"]
# Asked before a project server starts: None to start it, else why not. Raises
# Cancelled when the turn is cancelled while asking.
Allow = Callable[[str, McpServerSettings], Awaitable[str | None]]

INSTALL_HINT = "the MCP SDK is not installed: pip install 'nexus-lsp[mcp]'"
DEFAULT_START_TIMEOUT = 60.0


@dataclass(slots=True)
class ServerState:
    name: str
    config: McpServerSettings
    source: Source
    status: Status = "stopped"
    error: str | None = None
    allowed: bool | None = None  # project servers: None = not asked yet
    exits: int = 0
    connection: McpConnection | None = None
    skills: list[McpToolSkill] = field(default_factory=list)
    starting: asyncio.Future[None] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "source": self.source, "transport": self.config.transport,
            "status": self.status,
            "tools": [s.name for s in self.skills] if self.status == "running" else [],
        }
        if self.error and self.status in ("failed", "notAllowed"):
            out["error"] = self.error
        return out


class McpServers:
    def __init__(self, root: Path, *, notify: Callable[[str], None] | None = None,
                 start_timeout: float = DEFAULT_START_TIMEOUT) -> None:
        self.root = root
        self.start_timeout = start_timeout
        self._notify = notify
        self._servers: dict[str, ServerState] = {}
        self._told_missing_sdk = False
        self._closed = False
        self._closing: set[asyncio.Future[None]] = set()
        self._asking = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<McpServers {[(s.name, s.status) for s in self._servers.values()]}>"

    @classmethod
    async def start(cls, configs: Mapping[str, McpServerSettings], root: Path, *,
                    notify: Callable[[str], None] | None = None,
                    start_timeout: float = DEFAULT_START_TIMEOUT) -> McpServers:
        """Servers the caller trusts (no question), started now; see ``skills()``."""
        servers = cls(root, notify=notify, start_timeout=start_timeout)
        await servers.configure(configs)
        await servers.ensure(None)
        return servers

    @property
    def names(self) -> list[str]:
        return list(self._servers)

    def state(self, name: str) -> ServerState | None:
        return self._servers.get(name)

    async def configure(self, settings: Mapping[str, McpServerSettings],
                        project: Mapping[str, McpServerSettings] | None = None) -> None:
        """The servers wanted now; a changed or removed one is stopped (not started)."""
        wanted: dict[str, tuple[McpServerSettings, Source]] = {
            name: (config, "project") for name, config in (project or {}).items()}
        for name, config in settings.items():  # the user's settings win over a project's
            wanted[name] = (config, "settings")
        stale = [s for name, s in self._servers.items()
                 if name not in wanted or wanted[name] != (s.config, s.source)]
        for state in stale:
            del self._servers[state.name]
        await asyncio.gather(*(self._stop(s) for s in stale))
        ordered = {**{n: w for n, w in wanted.items() if w[1] == "settings"},
                   **{n: w for n, w in wanted.items() if w[1] == "project"}}
        servers: dict[str, ServerState] = {}
        for name, (config, source) in ordered.items():
            servers[name] = self._servers.get(name) or ServerState(name, config, source)
            if source == "project" and servers[name].allowed is None:
                servers[name].status = "notAllowed"
                servers[name].error = "not allowed yet: asked at the next turn with tools"
        self._servers = servers

    def skills(self) -> list[McpToolSkill]:
        return [skill for s in self._servers.values() if s.status == "running"
                for skill in s.skills]

    def list_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self._servers.values()]

    async def ensure(self, allow: Allow | None) -> list[McpToolSkill]:
        """Start every server that should run and does not (see the module docstring).

        ``allow`` None: project servers are trusted (the caller chose them)."""
        async with self._asking:  # two turns starting at once ask once
            await self._ask(allow)
        startable = [s for s in self._servers.values() if s.status == "stopped"]
        await asyncio.gather(*(self._start(s) for s in startable))
        return self.skills()

    async def _ask(self, allow: Allow | None) -> None:
        for state in list(self._servers.values()):
            if state.source == "project" and state.allowed is None:
                denial = None if allow is None else await allow(state.name, state.config)
                state.allowed = denial is None
                if state.allowed:
                    state.status, state.error = "stopped", None
                else:
                    state.status = "notAllowed"
                    state.error = (f"{denial} (asked again when {PROJECT_FILE} changes "
                                   "or the server restarts)")

    async def _start(self, state: ServerState) -> None:
        if state.starting is not None:  # another turn is starting it: wait for that one
            await asyncio.shield(state.starting)
            return
        state.starting = asyncio.get_running_loop().create_future()
        try:
            await self._connect(state)
        finally:
            state.starting.set_result(None)
            state.starting = None

    async def _connect(self, state: ServerState) -> None:
        try:
            from nexus_lsp.mcp.connection import McpConnection
        except ImportError as exc:
            log.warning("MCP server %s: the SDK cannot be imported: %r", state.name, exc)
            state.status, state.error = "failed", INSTALL_HINT
            if not self._told_missing_sdk:
                self._told_missing_sdk = True
                self._tell(f"Nexus: MCP servers are configured but {INSTALL_HINT}")
            return
        connection = McpConnection(state.name, state.config, self.root,
                                   lambda: self._exited(state, connection))
        try:
            tools = await connection.start(self.start_timeout)
        except asyncio.CancelledError:
            state.status, state.error = "stopped", None
            raise
        except BaseException as exc:
            state.status = "failed"
            state.error = _with_tail(_start_failure(exc, self.start_timeout),
                                     connection.stderr_tail())
            log.warning("MCP server %s did not start: %s", state.name, state.error)
            self._tell(f"Nexus: MCP server {state.name} did not start: {state.error}")
            return
        if self._closed or self._servers.get(state.name) is not state:
            await connection.close()  # closed or reconfigured while it started
            return
        state.connection = connection
        state.skills = [make_tool_skill(self, state.name, t) for t in tools]
        state.status, state.error = "running", None
        log.info("MCP server %s running: %d tools", state.name, len(tools))

    def _exited(self, state: ServerState, connection: McpConnection) -> None:
        """The server's process ended or its connection broke (not by us)."""
        if state.connection is not connection:
            return
        state.connection = None
        state.exits += 1
        tail = connection.stderr_tail()
        if state.exits >= 2:
            state.status = "failed"
            state.error = _with_tail("exited again after a restart", tail)
            log.warning("MCP server %s failed: %s", state.name, state.error)
            self._tell(f"Nexus: MCP server {state.name} failed: {state.error}")
        else:
            state.status = "stopped"  # started again at its next use
            log.warning("MCP server %s exited; it is started again at its next use%s",
                        state.name, f" (stderr: {tail})" if tail else "")
        # Its runner still holds the SDK's context: it is left (and awaited) here.
        closing = asyncio.ensure_future(connection.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        closing.add_done_callback(_log_close)

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> Any:
        """Call ``tool``; a stopped (exited once) server is started again first."""
        from nexus_lsp.mcp.connection import ConnectionLost

        state = self._servers.get(server)
        if state is None:
            raise ToolError("failed", f"MCP server {server} is no longer configured")
        if state.status == "stopped" and not self._closed:
            await self._start(state)
        connection = state.connection
        if state.status != "running" or connection is None:
            raise ToolError("failed", f"MCP server {server} is {_status_words(state)}")
        try:
            return await connection.call(tool, arguments)
        except ConnectionLost:
            self._exited(state, connection)
            raise ToolError("failed", _with_tail(
                f"MCP server {server} exited during the call", connection.stderr_tail()
            )) from None

    async def _stop(self, state: ServerState) -> None:
        connection, state.connection = state.connection, None
        state.status = "stopped"
        if connection is not None:
            await connection.close()

    async def aclose(self) -> None:
        """Stop every server (no process is left behind)."""
        self._closed = True
        await asyncio.gather(*(self._stop(s) for s in self._servers.values()),
                             *self._closing, return_exceptions=True)

    def _tell(self, text: str) -> None:
        if self._notify is not None:
            try:
                self._notify(text)
            except Exception:
                log.exception("telling the user about MCP failed")


def _start_failure(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"did not answer within {timeout:g} seconds"
    if isinstance(exc, FileNotFoundError | PermissionError):
        return f"cannot run it: {exc}"
    leaves = _leaves(exc)
    if any(isinstance(e, FileNotFoundError | PermissionError) for e in leaves):
        return "cannot run it: " + "; ".join(str(e) for e in leaves)
    text = "; ".join(str(e) or type(e).__name__ for e in leaves)
    return f"exited at start ({text})" if "closed" in text.lower() else text


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, the SDK's task groups' way."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _with_tail(message: str, tail: str) -> str:
    return f"{message}; stderr: {tail}" if tail else message


def _status_words(state: ServerState) -> str:
    return state.status + (f": {state.error}" if state.error else "")


def _log_close(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("closing an MCP server failed: %s", task.exception())
