"""SessionManager: the sessions of one workspace, live and stored.

It is what the LSP layer talks to (and anything else that serves a workspace):
it creates sessions with their provider, skills and composed system prompt,
resumes stored ones from ``.nexus``, runs turns with the store recording every
event, and makes sure the store is flushed before a turn's result is returned.
No LSP here: the LSP layer passes its Workspace implementation and an event sink.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_lsp.checkpoints import (
    Journal,
    JournaledWorkspace,
    RevertResult,
    fork_session,
    revert_turns,
)
from nexus_lsp.checkpoints.history import read_facts, reverted_messages
from nexus_lsp.config import PermissionMode, ProviderSettings, Settings
from nexus_lsp.core.attachments import Attachment, render_prompt
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import EventSink, TurnResult
from nexus_lsp.core.messages import Message
from nexus_lsp.errors import NexusError, SessionBusy, UnknownSession, UnknownTurn
from nexus_lsp.keys import add_key_env
from nexus_lsp.permissions.gate import PermissionAsker, PermissionGate
from nexus_lsp.providers import create_provider
from nexus_lsp.providers.base import Provider, RawLogger
from nexus_lsp.session.compaction import CompactionOutcome
from nexus_lsp.session.diagnostics import DiagnosticsWatch
from nexus_lsp.session.extensions import WorkspaceTools
from nexus_lsp.session.prompt import compose_system_prompt
from nexus_lsp.session.queue import WHEN_BUSY, Steered, TurnQueue, WhenBusy
from nexus_lsp.session.session import Session, new_session_id
from nexus_lsp.skills import Workspace
from nexus_lsp.skills.command import CommandLimits
from nexus_lsp.skills.diagnostics import DiagnosticsSource, GetDiagnostics
from nexus_lsp.storage import SessionRecord, SessionStore

if TYPE_CHECKING:
    from nexus_lsp.mcp import McpServers

__all__ = [
    "WHEN_BUSY",
    "LoadResult",
    "Steered",
    "WhenBusy",
    "ProviderFactory",
    "SessionManager",
    "default_provider",
    "title_from",
]

log = logging.getLogger(__name__)

ProviderFactory = Callable[[ProviderSettings, RawLogger | None], Provider]
TITLE_CHARS = 60


def default_provider(settings: ProviderSettings, raw: RawLogger | None) -> Provider:
    return create_provider(settings, raw_logger=raw)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A session made live again, with what ``nexus/session/load`` reports."""

    session: Session
    messages: list[Message]
    repaired: bool


class SessionManager:
    """Every session of one workspace; one store, one provider per live session."""

    def __init__(
        self,
        root: Path,
        settings: Settings,
        workspace: Workspace,
        store: SessionStore,
        provider_factory: ProviderFactory = default_provider,
    ) -> None:
        self.root = root
        self.settings = settings
        # Before anything is stored: a title or prompt may already quote the key.
        add_key_env(settings.provider.api_key_env)
        self.workspace = workspace
        self.store = store
        self._provider_factory = provider_factory
        self._sessions: dict[str, Session] = {}
        self._provider_settings: dict[str, ProviderSettings] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        # One turn (or compaction) at a time per session, queued sends in order.
        self.queue = TurnQueue()
        # Set by a door whose editor gives diagnostics (protocol v2 §4).
        self.diagnostics_source: DiagnosticsSource | None = None
        self._claimed: set[str] = set()  # sessions between claim and release (send)
        self._started: set[str] = set()  # sessions whose turn began (until release)
        # Set by the front door that can ask the user (protocol v2 §1); None: no way to ask.
        self.asker: PermissionAsker | None = None
        self.permissions = PermissionGate(
            lambda: self.settings.permissions, store.grants, lambda: self.asker
        )
        # How the user is told of a problem that is no request's answer (set by the host).
        self.notify: Callable[[str], None] | None = None
        # Skill plugins and MCP servers (protocol v2 §5).
        self.tools = WorkspaceTools(root, workspace, lambda: self.settings, self.permissions,
                                    self._tell)

    def __repr__(self) -> str:
        running = sum(s.running for s in self._sessions.values())
        return f"<SessionManager {str(self.root)!r}: {len(self._sessions)} live, {running} running>"

    async def new_session(
        self,
        title: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        *,
        session_id: str | None = None,
    ) -> Session:
        """A new session, stored at once; ``session_id`` is one the door already
        handed out (ACP names a session before its first prompt), else a new one."""
        session_id = session_id or new_session_id()
        provider_settings = self._provider_settings_for(model)
        prompt = compose_system_prompt(
            self.root, self.settings.session.system_prompt, system_prompt,
            mode=self.settings.permissions.mode,
        )
        title = (title or "").strip() or "New session"
        record = await self.store.create_session(
            session_id, title=title, model=provider_settings.model, system_prompt=prompt,
            settings=self.settings.model_dump(by_alias=True, mode="json"),
        )
        return self._make_live(
            session_id, title, prompt, provider_settings, created_at=record.created_at
        )

    async def get(self, session_id: str) -> Session:
        """The live session, resuming it from the store when needed."""
        return (await self.load(session_id)).session

    async def load(self, session_id: str) -> LoadResult:
        live = self._sessions.get(session_id)
        if live is not None:
            if live.running or session_id in self._claimed:
                return LoadResult(live, live.history, repaired=False)
            # Idle here: another process on this workspace may run or have changed it.
            try:
                changed = await self.store.changed_elsewhere(session_id, len(live.history))
            except UnknownSession:  # deleted by another process
                await self._drop_live(session_id)
                raise
            if not changed:
                return LoadResult(live, live.history, repaired=False)
            log.info("session %s changed in another process; loaded again", session_id)
            await self._drop_live(session_id)
        lock = self._loading.setdefault(session_id, asyncio.Lock())
        async with lock:
            if session_id in self._sessions:  # loaded while we waited
                live = self._sessions[session_id]
                return LoadResult(live, live.history, repaired=False)
            loaded = await self.store.load_session(session_id)  # raises UnknownSession
            record = loaded.record
            session = self._make_live(
                session_id, record.title, loaded.system_prompt,
                self._provider_settings_for(record.model),
                history=loaded.messages[1:], out_of_context=loaded.out_of_context,
                turn_count=record.turn_count, created_at=record.created_at,
            )
            return LoadResult(session, loaded.messages, loaded.repaired)

    async def send(
        self,
        session_id: str | None,
        prompt: str,
        *,
        cancel_token: CancellationToken | None = None,
        sink: EventSink | None = None,
        when_busy: WhenBusy = "reject",
        attachments: Sequence[Attachment] = (),
    ) -> TurnResult | Steered:
        """Run one turn; a new session (titled from the prompt) when ``session_id`` is None.

        ``sink`` receives this turn's events only. The store is flushed before this
        returns — also when the turn is cancelled or the caller's task is.

        While the session runs a turn: ``reject`` raises ``SessionBusy``; ``queue``
        waits for it (and for earlier queued sends) and runs after it; ``steer``
        hands the prompt to the running turn (:meth:`Session.steer`) and returns
        :class:`Steered` at once, or queues when the turn is past its last model call.
        """
        if session_id is None:
            session = await self.new_session(title=title_from(prompt))
        else:
            session = await self.get(session_id)
        # A turn that has ended (its end went out) but still closes its books (flush,
        # lease): a client that sends at once is served right after, not refused.
        finishing = session.id in self._started and not session.running
        if session.running or self.queue.busy(session.id) or session.id in self._claimed:
            if when_busy == "reject" and not finishing:
                raise SessionBusy(session.id)
            if when_busy == "steer":
                turn_id = session.steer(render_prompt(prompt, attachments))
                if turn_id is not None:
                    return Steered(session.id, turn_id)
        lock = await self.queue.acquire(session.id, cancel_token)
        try:
            # a queued send: the live session may have been reloaded while it waited
            session = self._sessions.get(session.id) or await self.get(session.id)
            self._claimed.add(session.id)
            try:
                # The turn's lease: another process on this workspace may run this
                # session (SessionBusy), or may have written to it since it was loaded.
                if await self.store.claim(session.id, len(session.history)):
                    log.info("session %s changed in another process; loaded again",
                             session.id)
                    session = await self._reload(session.id)
                await self._refresh_provider(session)
                remove = session.add_sink(sink) if sink is not None else None
                try:
                    self._started.add(session.id)
                    result = await session.send(
                        prompt, cancel_token=cancel_token, attachments=attachments
                    )
                finally:
                    if remove is not None:
                        remove()
                    await self.store.flush()
                    leftover = session.take_leftover()
                    if leftover:
                        self._run_leftover(session.id, "\n\n".join(leftover))
                return result
            finally:
                await self._release(session.id)
        finally:
            lock.release()

    async def compact(
        self,
        session_id: str,
        *,
        cancel_token: CancellationToken | None = None,
        sink: EventSink | None = None,
    ) -> CompactionOutcome:
        """Compact a session's context now (between turns; ``SessionBusy`` during one)."""
        session = await self.get(session_id)
        if session.running or self.queue.busy(session.id) or session.id in self._claimed:
            raise SessionBusy(session.id)
        async with self.queue.lock(session.id):
            self._claimed.add(session.id)
            try:
                if await self.store.claim(session.id, len(session.history)):
                    session = await self._reload(session.id)
                await self._refresh_provider(session)
                remove = session.add_sink(sink) if sink is not None else None
                try:
                    return await session.compact(cancel_token)
                finally:
                    if remove is not None:
                        remove()
                    await self.store.flush()
            finally:
                await self._release(session.id)

    async def _release(self, session_id: str) -> None:
        try:
            await self.store.release(session_id)
        except Exception:  # the lease then expires on its own
            log.warning("session %s: releasing its lease failed", session_id, exc_info=True)
        finally:
            # only now: until the lease is back a new send must wait, not be refused
            self._claimed.discard(session_id)
            self._started.discard(session_id)

    def _run_leftover(self, session_id: str, prompt: str) -> None:
        self.queue.run_leftover(
            session_id, prompt, lambda: self.send(session_id, prompt, when_busy="queue"))

    def session(self, session_id: str) -> Session | None:
        """The live session with that id, if any (no loading)."""
        return self._sessions.get(session_id)

    async def list_sessions(self) -> list[SessionRecord]:
        return await self.store.list_sessions()

    async def delete(self, session_id: str) -> bool:
        live = self._sessions.get(session_id)
        if (live is not None and live.running) or session_id in self._claimed:
            raise SessionBusy(session_id)
        deleted = await self.store.delete_session(session_id)  # busy in another process?
        await self._drop_live(session_id)
        return deleted

    async def _drop_live(self, session_id: str) -> None:
        live = self._sessions.pop(session_id, None)
        self._provider_settings.pop(session_id, None)
        if live is not None:
            await live.provider.aclose()

    async def _reload(self, session_id: str) -> Session:
        """The stored session in place of the live one (which is out of date)."""
        await self._drop_live(session_id)
        return (await self.load(session_id)).session

    async def revert(self, session_id: str, turn_id: int, *, code: bool = True,
                     conversation: bool = True) -> RevertResult:
        """Revert turn ``turn_id`` and every later one (protocol v2 §3).

        The workspace must offer ``apply_all`` (DiskWorkspace, EditorWorkspace).
        SessionBusy while a turn runs; UnknownSession / UnknownTurn.
        """
        live = self._sessions.get(session_id)
        if (live is not None and live.running) or session_id in self._claimed:
            raise SessionBusy(session_id)
        await read_facts(self.store, session_id)  # UnknownSession before any lease
        self._claimed.add(session_id)  # no turn starts here while the revert runs
        try:
            await self.store.claim(session_id, 0)  # ... nor in another process
            result = await revert_turns(self.store, self.workspace, session_id,  # type: ignore[arg-type]
                                        turn_id, code=code, conversation=conversation)
            if conversation:
                await self._drop_live(session_id)  # resumed from the store next time
            return result
        finally:
            self._claimed.discard(session_id)
            try:
                await self.store.release(session_id)
            except Exception:  # the lease then expires on its own
                log.warning("session %s: releasing its lease failed", session_id,
                            exc_info=True)

    async def fork(self, session_id: str, turn_id: int | None = None) -> SessionRecord:
        """A new session holding the history up to the end of ``turn_id`` (default all)."""
        live = self._sessions.get(session_id)
        if live is not None and live.running and (turn_id is None or turn_id >= live.turn_count):
            raise SessionBusy(session_id)  # the turn asked for is still being written
        await self.store.flush()
        return await fork_session(self.store, session_id, turn_id, new_session_id(),
                                  self.settings.model_dump(by_alias=True, mode="json"))

    async def last_turn(self, session_id: str) -> int:
        """The last turn of the session that is not reverted (UnknownTurn if none)."""
        facts = await read_facts(self.store, session_id)
        turns = facts.live_turns | facts.journaled_turns
        if not turns:
            raise UnknownTurn(session_id, 0, "no turn is left to revert")
        return max(turns)

    async def reverted_messages(self, session_id: str) -> list[tuple[int, Message]]:
        """The messages of reverted turns (turn id, message), for ``load``."""
        return [(r.turn, r.message) for r in await reverted_messages(self.store, session_id)]

    def cancel(self, session_id: str, reason: str = "cancelled by the user") -> bool:
        live = self._sessions.get(session_id)
        if live is None:
            raise UnknownSession(session_id)
        return live.cancel(reason)

    async def set_mode(self, session_id: str, mode: PermissionMode) -> PermissionMode:
        """This session's permission mode from its next tool call on (protocol v2 §1)."""
        session = await self.get(session_id)
        session.mode = mode
        if session.running:
            log.info("session %s: mode %s from its next tool batch", session_id, mode)
        return mode

    def cancel_all(self, reason: str) -> int:
        return sum(s.cancel(reason) for s in self._sessions.values())

    def update_settings(self, settings: Settings) -> None:
        """New settings: sessions take them from their next turn on."""
        self.settings = settings
        add_key_env(settings.provider.api_key_env)
        self.store.set_logging(settings.logging)
        for session in self._sessions.values():
            session.settings = settings.session
            if session.registry is not None:
                session.registry.timeout_seconds = settings.session.tool_timeout_seconds
                session.registry.max_output_chars = settings.session.max_tool_output_chars

    # MCP servers and plugins -------------------------------------------------------

    @property
    def mcp(self) -> McpServers | None:
        """The workspace's MCP servers, once some were configured."""
        return self.tools.mcp

    async def mcp_servers(self) -> McpServers | None:
        """The MCP servers configured now (``nexus/mcp/list``); none is started here."""
        return await self.tools.mcp_servers()

    def _tell(self, text: str) -> None:
        log.warning("%s", text)
        if self.notify is not None:
            self.notify(text)

    async def aclose(self) -> None:
        """Cancel running turns, wait briefly for them to close, release everything."""
        await self.queue.aclose()
        if self.cancel_all("the server is shutting down"):
            for _ in range(100):  # the turns' own tasks finish them; give them a moment
                if not any(s.running for s in self._sessions.values()):
                    break
                await asyncio.sleep(0.01)
        for session in self._sessions.values():
            try:
                await session.provider.aclose()
            except Exception:
                log.exception("closing the provider of session %s failed", session.id)
        self._sessions.clear()
        if self.mcp is not None:
            try:
                await self.tools.aclose()
            except Exception:
                log.exception("stopping the MCP servers failed")
        await self.store.aclose()

    def _make_live(
        self,
        session_id: str,
        title: str,
        prompt: str,
        provider_settings: ProviderSettings,
        *,
        history: list[Message] | None = None,
        out_of_context: frozenset[int] = frozenset(),
        turn_count: int = 0,
        created_at: datetime | None = None,
    ) -> Session:
        provider = self._provider_factory(provider_settings, self.store.raw_logger(session_id))
        # Every change the session's tools make is journaled first (checkpoints);
        # the turn is read when the change is made.
        turn = _TurnOf()
        tools_workspace = JournaledWorkspace(self.workspace, Journal(self.store), session_id, turn)
        registry = self.tools.registry(self._command_limits, tools_workspace)
        source = self.diagnostics_source
        if source is not None:
            registry.register(GetDiagnostics(self.workspace, source))
        session = Session(
            provider=provider,
            settings=self.settings.session,
            system_prompt=prompt,
            registry=registry,
            session_id=session_id,
            title=title,
            history=history or (),
            out_of_context=sorted(out_of_context),
            turn_count=turn_count,
            created_at=created_at,
            permissions=self.permissions,
            tool_source=self.tools.tool_source,
        )
        turn.session = session
        session.add_sink(self.store.sink(session_id))
        if source is not None:
            session.diagnostics = DiagnosticsWatch(
                source,
                delay_ms=lambda: self.settings.edits.diagnostics_delay_ms,
                is_read_only=registry.is_read_only,
                normalise=self._workspace_path,
            )
        self._sessions[session_id] = session
        self._provider_settings[session_id] = provider_settings
        return session

    def _workspace_path(self, path: str) -> str | None:
        try:
            return self.workspace.relative(self.workspace.resolve(path))
        except NexusError:
            return None

    def _command_limits(self) -> CommandLimits:
        settings = self.settings
        return CommandLimits(settings.commands, settings.provider.api_key_env,
                             settings.session.max_tool_output_chars)

    def _provider_settings_for(self, model: str | None) -> ProviderSettings:
        provider = self.settings.provider
        return provider.model_copy(update={"model": model}) if model else provider

    async def _refresh_provider(self, session: Session) -> None:
        """After a settings change, the next turn talks to the newly configured endpoint."""
        current = self._provider_settings[session.id]
        wanted = self.settings.provider.model_copy(update={"model": current.model})
        if wanted == current:
            return
        old = session.provider
        session.provider = self._provider_factory(wanted, self.store.raw_logger(session.id))
        self._provider_settings[session.id] = wanted
        await old.aclose()


class _TurnOf:
    """The running turn's id of a session made after its tools' workspace."""

    session: Session | None = None

    def __call__(self) -> int:
        return self.session.turn_count if self.session is not None else 0


def title_from(prompt: str) -> str:
    """A session title from a prompt: its first non-blank line, shortened."""
    line = next((ln.strip() for ln in prompt.splitlines() if ln.strip()), "")
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
