"""NexusAgent: the ACP methods, translated to the host's workspace runtimes.

One :class:`~nexus_lsp.host.runtime.WorkspaceRuntime` per folder (``cwd`` of
``session/new``, ``session/load``, ``session/resume``), opened on first use with the
settings layers of :mod:`nexus_lsp.host.settings_files`; the sessions are the
runtime's, stored in that folder's ``.nexus`` (so the LSP door lists and loads them).
Everything a turn does is reported by :class:`~nexus_lsp.acp.updates.AcpReporter`.
A session's own ``mcpServers`` are :class:`~nexus_lsp.acp.mcp.SessionServers`'; the
slash commands are in :mod:`nexus_lsp.acp.commands`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from acp import Client, helpers
from acp.schema import (
    CloseSessionResponse,
    DeleteSessionResponse,
    InitializeResponse,
    ListSessionsResponse,
    NewSessionResponse,
    PromptResponse,
    ResumeSessionResponse,
    SessionInfo,
    SetSessionConfigOptionResponse,
)

from nexus_lsp.acp.commands import (
    available_commands,
    compact,
    fork,
    nothing_to_compact,
    revert,
    turn_argument,
)
from nexus_lsp.acp.hello import initialize_result
from nexus_lsp.acp.mcp import SessionServers, acp_entries
from nexus_lsp.acp.permissions import (
    MODE_CONFIG_ID,
    AcpPermissionAsker,
    config_options,
    mode_state,
)
from nexus_lsp.acp.prompt import build_prompt, command_of
from nexus_lsp.acp.rpc_errors import INTERNAL_ERROR, rpc_error
from nexus_lsp.acp.updates import AcpReporter, Update, replay, title_update, tool_call_end
from nexus_lsp.acp.workspace import AcpWorkspace, current_session
from nexus_lsp.config import PERMISSION_MODES, PermissionMode
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.errors import NexusError, SessionBusy, UnknownSession
from nexus_lsp.host.runtime import WorkspaceRuntime
from nexus_lsp.host.settings import SettingsLayers
from nexus_lsp.host.settings_files import SettingsLayer, read_settings_file, workspace_settings_path
from nexus_lsp.session.manager import ProviderFactory, title_from
from nexus_lsp.session.session import new_session_id

__all__ = ["LogNotifier", "NexusAgent"]

log = logging.getLogger(__name__)

Runtime = WorkspaceRuntime[AcpWorkspace]

STOP_REASONS = {
    "endTurn": "end_turn", "maxIterations": "max_turn_requests", "cancelled": "cancelled",
}


class LogNotifier:
    """ACP has no message channel outside a session: problems go to the log (stderr)."""

    def show_message(self, level: str, text: str) -> None:
        log.log(logging.ERROR if level == "error" else logging.WARNING, "%s", text)


class NexusAgent:
    def __init__(
        self,
        base_layers: Sequence[SettingsLayer],
        provider_factory: ProviderFactory | None = None,
    ) -> None:
        self._base_layers = list(base_layers)
        self._provider_factory = provider_factory
        self._client: Client | None = None
        self._can_read = self._can_write = False
        self._runtimes: dict[Path, asyncio.Future[Runtime]] = {}
        self._sessions: dict[str, Runtime] = {}
        # Sessions handed out by session/new and not prompted yet: stored at their
        # first prompt, titled from it (as LSP's send without a session), so an
        # editor opening empty threads leaves no empty sessions behind.
        self._unstarted: set[str] = set()
        self._modes: dict[str, PermissionMode] = {}  # modes set before the first prompt
        self._notifier = LogNotifier()
        self._mcp = SessionServers()  # the sessions' own MCP servers (mcpServers)
        self._compacting: dict[str, CancellationToken] = {}  # /compact running

    def on_connect(self, conn: Client) -> None:
        self._client = conn

    # lifecycle ----------------------------------------------------------------

    async def initialize(
        self, protocol_version: int, client_capabilities: Any = None, client_info: Any = None,
        **_: Any,
    ) -> InitializeResponse:
        fs = getattr(client_capabilities, "fs", None)
        self.client_fs(bool(getattr(fs, "read_text_file", False)),
                       bool(getattr(fs, "write_text_file", False)))
        log.info("ACP client %s", getattr(client_info, "name", "?"))
        return InitializeResponse.model_validate(initialize_result(protocol_version))

    def client_fs(self, can_read: bool, can_write: bool) -> None:
        """What the client offers of ``fs/*`` (from ``initialize``, maybe answered early)."""
        self._can_read, self._can_write = can_read, can_write
        log.info("ACP client fs: read=%s write=%s", can_read, can_write)

    async def authenticate(self, method_id: str, **_: Any) -> None:
        raise rpc_error("noAuthentication", f"no authentication method {method_id!r}: "
                        "nexus-lsp reads the API key from provider.apiKeyEnv")

    async def aclose(self) -> None:
        await self._mcp.aclose()
        for opening in self._runtimes.values():
            if opening.done() and not opening.cancelled() and opening.exception() is None:
                await opening.result().aclose()

    # the runtime of a folder ----------------------------------------------------------

    async def _runtime(self, cwd: str) -> Runtime:
        root = _root_of(cwd)
        if root not in self._runtimes:
            self._runtimes[root] = asyncio.ensure_future(self._open(root))
        try:
            return await asyncio.shield(self._runtimes[root])
        except NexusError as exc:
            self._runtimes.pop(root, None)
            raise rpc_error("storeUnavailable", str(exc), INTERNAL_ERROR) from exc

    async def _open(self, root: Path) -> Runtime:
        layers = SettingsLayers(self._notifier)
        sources = [(layer.raw, layer.where) for layer in self._base_layers]
        found, problem = read_settings_file(workspace_settings_path(root))
        if problem is not None:
            self._notifier.show_message("warning", f"Nexus: {problem}")
        if found is not None:
            sources.append((found.raw, found.where))
        layers.load_layers(sources)
        client = self._client
        assert client is not None

        def workspace(folder: Path, s: SettingsLayers) -> AcpWorkspace:
            return AcpWorkspace(folder, lambda: s.settings.edits, client,
                                can_read=self._can_read, can_write=self._can_write)

        runtime: Runtime = await WorkspaceRuntime.open(
            root, layers, workspace, self._notifier, self._provider_factory
        )
        runtime.manager.asker = AcpPermissionAsker(client)
        self._mcp.install(runtime.manager.tools)
        log.info("workspace %s ready (store %s)", root, runtime.store.nexus_dir)
        return runtime

    def _runtime_of(self, session_id: str) -> Runtime:
        runtime = self._sessions.get(session_id)
        if runtime is None:
            raise rpc_error("unknownSession", f"unknown session {session_id!r}: "
                            "create it with session/new or open it with session/load")
        return runtime

    # sessions -------------------------------------------------------------------

    async def new_session(self, cwd: str, mcp_servers: Any = None, **_: Any) -> NewSessionResponse:
        entries = acp_entries(mcp_servers)
        runtime = await self._runtime(cwd)
        session_id = new_session_id()
        notes = await self._start_servers(runtime, session_id, entries)
        self._sessions[session_id] = runtime
        self._unstarted.add(session_id)
        self._after_open(runtime, session_id, None, notes)
        mode = runtime.settings.permissions.mode
        return NewSessionResponse(session_id=session_id, modes=mode_state(mode),
                                  config_options=config_options(mode))  # type: ignore[arg-type]

    async def load_session(
        self, cwd: str, session_id: str, mcp_servers: Any = None, **_: Any
    ) -> None:
        entries = acp_entries(mcp_servers)
        runtime = await self._runtime(cwd)
        try:
            loaded = await runtime.manager.load(session_id)
        except UnknownSession as exc:
            raise rpc_error("unknownSession", str(exc)) from exc
        except SessionBusy as exc:  # a turn runs in it, here or in another process
            raise rpc_error("sessionBusy", str(exc)) from exc
        self._sessions[session_id] = runtime
        send = self._send
        for update in replay(loaded.messages[1:], runtime.root):  # [0] is the system prompt
            await send(session_id, update)
        await send(session_id, title_update(loaded.session.title))
        await send(session_id, helpers.update_current_mode(loaded.session.permission_mode))
        notes = await self._start_servers(runtime, session_id, entries)
        self._after_open(runtime, session_id, None, notes)

    async def resume_session(self, session_id: str, cwd: str, mcp_servers: Any = None,
                             **_: Any) -> ResumeSessionResponse:
        entries = acp_entries(mcp_servers)
        runtime = await self._runtime(cwd)
        try:
            session = await runtime.manager.get(session_id)
        except UnknownSession as exc:
            raise rpc_error("unknownSession", str(exc)) from exc
        except SessionBusy as exc:
            raise rpc_error("sessionBusy", str(exc)) from exc
        notes = await self._start_servers(runtime, session_id, entries)
        self._sessions[session_id] = runtime
        self._after_open(runtime, session_id, session.title, notes)
        mode = session.permission_mode
        return ResumeSessionResponse(modes=mode_state(mode),
                                     config_options=config_options(mode))  # type: ignore[arg-type]

    async def list_sessions(self, cwd: str | None = None, cursor: str | None = None,
                            **_: Any) -> ListSessionsResponse:
        runtimes = [await self._runtime(cwd)] if cwd else [
            f.result() for f in self._runtimes.values()
            if f.done() and not f.cancelled() and f.exception() is None
        ]
        sessions: list[SessionInfo] = []
        for runtime in runtimes:
            for record in await runtime.manager.list_sessions():
                sessions.append(SessionInfo(
                    session_id=record.session_id, cwd=str(runtime.root), title=record.title,
                    updated_at=record.updated_at.isoformat()))
        return ListSessionsResponse(sessions=sessions)

    async def delete_session(self, session_id: str, **_: Any) -> DeleteSessionResponse:
        if session_id in self._unstarted:
            self._unstarted.discard(session_id)
            del self._sessions[session_id]
            await self._mcp.stop(session_id)
            return DeleteSessionResponse()
        runtime = self._sessions.get(session_id)
        candidates = [runtime] if runtime else [
            f.result() for f in self._runtimes.values()
            if f.done() and not f.cancelled() and f.exception() is None]
        for candidate in candidates:
            try:
                if await candidate.manager.delete(session_id):
                    self._sessions.pop(session_id, None)
                    await self._mcp.stop(session_id)
                    return DeleteSessionResponse()
            except SessionBusy as exc:
                raise rpc_error("sessionBusy", str(exc)) from exc
        raise rpc_error("unknownSession", f"unknown session {session_id!r}")

    async def close_session(self, session_id: str, **_: Any) -> CloseSessionResponse:
        self._runtime_of(session_id)
        self.cancel_turn(session_id, "the session was closed")
        del self._sessions[session_id]
        await self._mcp.stop(session_id)
        self._unstarted.discard(session_id)
        self._modes.pop(session_id, None)
        return CloseSessionResponse()

    async def _start_servers(self, runtime: Runtime, session_id: str,
                             entries: list[dict[str, Any]]) -> list[str]:
        """The session's MCP servers (none: the ones it had are stopped); the problems."""
        timeout = runtime.settings.session.tool_timeout_seconds
        return await self._mcp.start(session_id, entries, runtime.root, timeout)

    def _after_open(self, runtime: Runtime, session_id: str, title: str | None,
                    notes: Sequence[str] = ()) -> None:
        """Commands (and the title) once the client knows the session: sent after the answer,
        with the problems of its MCP servers (ACP has no other channel to the user)."""
        updates: list[Update | Any] = [helpers.update_agent_message_text(n + "\n") for n in notes]
        if title is not None:
            updates.append(title_update(title))
        updates.append(available_commands())

        async def send_all() -> None:
            for update in updates:
                await self._send(session_id, update)

        runtime.spawn(send_all(), f"session/update for {session_id}")

    async def _send(self, session_id: str, update: Any) -> None:
        assert self._client is not None
        await self._client.session_update(session_id=session_id, update=update)

    # turns ------------------------------------------------------------------------

    async def prompt(self, session_id: str, prompt: list[Any], **_: Any) -> PromptResponse:
        runtime = self._runtime_of(session_id)
        token = current_session.set(session_id)
        try:
            parts = await build_prompt(prompt, runtime.workspace)
            command = command_of(parts.prompt_text)
            if command is not None:
                return await self._command(runtime, session_id, command, parts.prompt_text)
            if session_id in self._unstarted:
                title = title_from(parts.prompt_text or parts.attachments[0].uri)
                await runtime.new_session(title=title, session_id=session_id)
                self._unstarted.discard(session_id)
                if session_id in self._modes:
                    await runtime.manager.set_mode(session_id, self._modes.pop(session_id))
                await self._send(session_id, title_update(title))
            return await self._turn(runtime, session_id, parts.model_prompt())
        finally:
            current_session.reset(token)

    async def _turn(self, runtime: Runtime, session_id: str, text: str) -> PromptResponse:
        await runtime.settings_layers.settled()
        reporter = AcpReporter(self._send, session_id, runtime.root,
                               runtime.settings.session.context_tokens)
        try:
            result = await runtime.run_turn(session_id, text, reporter, CancellationToken())
        except SessionBusy as exc:
            raise rpc_error("sessionBusy", str(exc)) from exc
        except UnknownSession as exc:
            raise rpc_error("unknownSession", str(exc)) from exc
        finally:
            await reporter.aclose()
        # every tool call the client saw gets a final status, whatever cut the turn
        for call_id, call in reporter.started.items():
            if call_id not in reporter.answered:
                await self._send(session_id, tool_call_end(call, runtime.root, False, "cancelled"))
        if result.stop_reason == "error":
            error = result.error
            code, message = (error.code, error.message) if error else ("error", "the turn failed")
            raise rpc_error(code, message, INTERNAL_ERROR)
        return PromptResponse(stop_reason=STOP_REASONS[result.stop_reason])  # type: ignore[arg-type]

    async def _command(
        self, runtime: Runtime, session_id: str, command: str, text: str
    ) -> PromptResponse:
        if command in ("revert", "fork"):
            if session_id in self._unstarted:
                raise rpc_error("unknownTurn", f"/{command}: the session has no turn yet")
            act = revert if command == "revert" else fork
            return await act(runtime, session_id, self._send, turn_argument(text))
        if session_id in self._unstarted:
            return await nothing_to_compact(self._send, session_id)
        token = self._compacting[session_id] = CancellationToken()
        try:
            return await compact(runtime, session_id, self._send, token)
        finally:
            self._compacting.pop(session_id, None)

    # permission modes ---------------------------------------------------------------

    async def set_session_mode(self, session_id: str, mode_id: str, **_: Any) -> None:
        await self._set_mode(session_id, mode_id)

    async def set_config_option(
        self, config_id: str, session_id: str, value: str | bool, **_: Any
    ) -> SetSessionConfigOptionResponse:
        if config_id != MODE_CONFIG_ID:
            raise rpc_error("unknownConfigOption", f"unknown config option {config_id!r}: "
                            f"the only one is {MODE_CONFIG_ID!r}")
        mode = await self._set_mode(session_id, value)
        return SetSessionConfigOptionResponse(
            config_options=config_options(mode))  # type: ignore[arg-type]

    async def _set_mode(self, session_id: str, value: object) -> PermissionMode:
        runtime = self._runtime_of(session_id)
        if value not in PERMISSION_MODES:
            raise rpc_error("unknownMode", f"unknown mode {value!r}: expected one of "
                            + ", ".join(PERMISSION_MODES))
        mode: PermissionMode = value
        if session_id in self._unstarted:
            self._modes[session_id] = mode
        else:
            try:
                await runtime.manager.set_mode(session_id, mode)
            except UnknownSession as exc:
                raise rpc_error("unknownSession", str(exc)) from exc
            except SessionBusy as exc:
                raise rpc_error("sessionBusy", str(exc)) from exc
        await self._send(session_id, helpers.update_current_mode(mode))
        return mode

    async def cancel(self, session_id: str, **_: Any) -> None:
        self.cancel_turn(session_id, "session/cancel")

    def cancel_turn(self, session_id: str, how: str = "$/cancel_request") -> None:
        """Cancel the session's running turn, if any (its prompt answers ``cancelled``)."""
        compacting = self._compacting.get(session_id)
        if compacting is not None:
            compacting.cancel(f"cancelled by the client ({how})")
        runtime = self._sessions.get(session_id)
        if runtime is None or session_id in self._unstarted:
            log.info("%s for session %s without a turn: ignored", how, session_id)
            return
        try:
            runtime.manager.cancel(session_id, f"cancelled by the client ({how})")
        except UnknownSession:
            log.info("%s for session %s, which is not live: ignored", how, session_id)


def _root_of(cwd: str) -> Path:
    """The workspace folder of ``cwd`` (a quick stat: the client just named it)."""
    root = Path(cwd)
    if not root.is_absolute():
        raise rpc_error("invalidCwd", f"cwd {cwd!r}: expected an absolute path")
    if not root.is_dir():
        raise rpc_error("invalidCwd", f"cwd {cwd!r}: not a directory")
    return root.resolve()
