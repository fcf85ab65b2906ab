"""WorkspaceRuntime: one workspace's store, sessions and running turns, for any door.

Opened on first use by a front door (:meth:`WorkspaceRuntime.open`). It owns the one
cancel path of a turn as a door sees it (:meth:`WorkspaceRuntime.run_turn`): the turn
runs in its own task with a :class:`~nexus_lsp.core.cancel.CancellationToken`; when
the door's request task is cancelled (a protocol cancel, or shutdown) the token is
cancelled and the turn is awaited, so its end is reported and the store is flushed
before the door answers the cancel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload

from nexus_lsp.config import Settings
from nexus_lsp.core.attachments import Attachment
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import EventSink, TurnResult
from nexus_lsp.errors import StoreError
from nexus_lsp.host.editor import EditorWorkspace
from nexus_lsp.host.notify import Notifier
from nexus_lsp.host.settings import SettingsLayers
from nexus_lsp.session.compaction import CompactionOutcome
from nexus_lsp.session.manager import (
    ProviderFactory,
    SessionManager,
    Steered,
    WhenBusy,
    default_provider,
    title_from,
)
from nexus_lsp.session.session import Session
from nexus_lsp.storage import SessionStore

__all__ = ["WorkspaceRuntime"]

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0

W = TypeVar("W", bound=EditorWorkspace)
T = TypeVar("T")
# A door's sink for a turn it did not ask for (a steered prompt run as the next turn):
# (session id, token) → (sink, close)
SinkFactory = Callable[[str, CancellationToken], tuple[EventSink, Callable[[], None]]]


class WorkspaceRuntime(Generic[W]):
    def __init__(
        self,
        root: Path,
        settings: SettingsLayers,
        store: SessionStore,
        workspace: W,
        manager: SessionManager,
    ) -> None:
        self.root = root
        self.settings_layers = settings
        self.store = store
        self.workspace = workspace
        self.manager = manager
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turns: set[asyncio.Future[Any]] = set()
        self.sink_factory: SinkFactory | None = None
        manager.queue.follow_up = self._follow_up

    @classmethod
    async def open(
        cls,
        root: Path,
        settings: SettingsLayers,
        workspace: Callable[[Path, SettingsLayers], W],
        notifier: Notifier,
        provider_factory: ProviderFactory | None = None,
    ) -> WorkspaceRuntime[W]:
        """Open the store of ``root`` and the session manager over ``workspace``.

        ``provider_factory`` replaces the real providers (tests)."""
        try:
            store = await SessionStore.open(root, settings.settings.logging)
        except StoreError as exc:
            notifier.show_message("error", f"Nexus: {exc}")
            raise
        editor = workspace(root, settings)
        manager = SessionManager(
            root, settings.settings, editor, store, provider_factory or default_provider
        )
        manager.notify = lambda text: notifier.show_message("warning", text)
        runtime = cls(root, settings, store, editor, manager)
        settings.on_change = manager.update_settings
        return runtime

    @property
    def settings(self) -> Settings:
        return self.settings_layers.settings

    # sessions -----------------------------------------------------------------

    async def new_session(
        self,
        title: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        *,
        session_id: str | None = None,
    ) -> Session:
        return await self.manager.new_session(title, system_prompt, model, session_id=session_id)

    async def session_for_prompt(self, session_id: str | None, prompt: str) -> str:
        """``session_id``, or a new session titled from the prompt's first line."""
        if session_id is not None:
            return session_id
        return (await self.new_session(title=title_from(prompt))).id

    def log_dir(self, session_id: str) -> str:
        """The session's folder, relative to the workspace when inside it."""
        folder = self.store.session_dir(session_id)
        try:
            return folder.relative_to(self.root).as_posix()
        except ValueError:
            return folder.as_posix()

    # turns --------------------------------------------------------------------

    @overload
    async def run_turn(
        self,
        session_id: str,
        prompt: str,
        sink: EventSink,
        cancel_token: CancellationToken | None = None,
        *,
        when_busy: Literal["reject", "queue"] = "reject",
        attachments: Sequence[Attachment] = (),
    ) -> TurnResult: ...

    @overload
    async def run_turn(
        self,
        session_id: str,
        prompt: str,
        sink: EventSink,
        cancel_token: CancellationToken | None = None,
        *,
        when_busy: WhenBusy,
        attachments: Sequence[Attachment] = (),
    ) -> TurnResult | Steered: ...

    async def run_turn(
        self,
        session_id: str,
        prompt: str,
        sink: EventSink,
        cancel_token: CancellationToken | None = None,
        *,
        when_busy: WhenBusy = "reject",
        attachments: Sequence[Attachment] = (),
    ) -> TurnResult | Steered:
        """Run one turn, its events to ``sink``; see the module docstring.

        ``when_busy`` and ``attachments``: protocol v2 §4 (``SessionManager.send``)."""
        token = cancel_token or CancellationToken()
        turn = asyncio.ensure_future(
            self.manager.send(session_id, prompt, cancel_token=token, sink=sink,
                              when_busy=when_busy, attachments=attachments)
        )
        return await self._owned(turn, token)

    async def compact(
        self, session_id: str, sink: EventSink, cancel_token: CancellationToken | None = None
    ) -> CompactionOutcome:
        """``nexus/session/compact``: the same cancel path as a turn."""
        token = cancel_token or CancellationToken()
        work = asyncio.ensure_future(
            self.manager.compact(session_id, cancel_token=token, sink=sink))
        return await self._owned(work, token)

    async def _owned(self, turn: asyncio.Future[T], token: CancellationToken) -> T:
        self._turns.add(turn)
        turn.add_done_callback(self._turns.discard)
        try:
            return await asyncio.shield(turn)
        except asyncio.CancelledError:
            token.cancel("the request was cancelled")
            await asyncio.gather(turn, return_exceptions=True)  # turn ended, store flushed
            raise

    def _follow_up(self, session_id: str, prompt: str) -> None:
        """A steered prompt whose turn ended first: the next turn, reported by the door."""
        async def run() -> None:
            token = CancellationToken()
            sink, close = (self.sink_factory(session_id, token) if self.sink_factory
                           else (None, lambda: None))
            try:
                await self.manager.send(session_id, prompt, cancel_token=token, sink=sink,
                                        when_busy="queue")
            finally:
                close()

        self.spawn(run(), f"the queued steered prompt of {session_id}")

    def cancel_all(self, reason: str) -> int:
        return self.manager.cancel_all(reason)

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run ``work`` in a task kept until done (or until close); its failure is logged."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.warning("%s failed: %s", what, finished.exception())

        task.add_done_callback(done)

    async def aclose(self) -> None:
        """Cancel running turns (their end and history are written), close the store."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.manager.cancel_all("the server is shutting down")
        if self._turns:
            # bounded: a turn stuck beyond its cancel must not keep the process alive
            await asyncio.wait(set(self._turns), timeout=CLOSE_TIMEOUT)
        await self.manager.aclose()
