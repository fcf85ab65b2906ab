"""The server's nexus state: settings, store, workspace, sessions, running turns.

Built once after ``initialize`` (:meth:`NexusRuntime.start`). It owns the one cancel
path of a turn as the LSP layer sees it (:meth:`NexusRuntime.run_turn`): the
turn runs in its own task with a :class:`~nexus_lsp.core.cancel.CancellationToken`;
when the request's task is cancelled (``$/cancelRequest``, or shutdown) the token
is cancelled and the turn is awaited, so its ``turnEnd`` goes out and the store is
flushed before the -32800 answer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from nexus_lsp.config import Settings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import TurnResult
from nexus_lsp.errors import StoreError
from nexus_lsp.server.channel import LspChannel, client_supports
from nexus_lsp.server.results import iso
from nexus_lsp.server.settings import SettingsSource
from nexus_lsp.server.updates import SeqCounter, TurnReporter
from nexus_lsp.server.workspace import LspWorkspace, path_to_uri
from nexus_lsp.session.manager import SessionManager, title_from
from nexus_lsp.session.session import Session
from nexus_lsp.storage import SessionStore

if TYPE_CHECKING:
    from nexus_lsp.server.app import NexusLanguageServer

__all__ = ["NexusRuntime", "workspace_root"]

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0


def workspace_root(params: types.InitializeParams | None) -> Path:
    """The first workspace folder (else the root URI/path, else the current folder)."""
    candidates: list[str | None] = []
    if params is not None:
        candidates += [to_fs_path(f.uri) for f in params.workspace_folders or ()]
        candidates.append(to_fs_path(params.root_uri) if params.root_uri else None)
        candidates.append(params.root_path)
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    log.warning("no workspace folder given: using the current folder %s", os.getcwd())
    return Path.cwd().resolve()


class NexusRuntime:
    def __init__(
        self,
        server: NexusLanguageServer,
        root: Path,
        settings: SettingsSource,
        store: SessionStore,
        workspace: LspWorkspace,
        manager: SessionManager,
    ) -> None:
        self.server = server
        self.root = root
        self.settings_source = settings
        self.store = store
        self.workspace = workspace
        self.manager = manager
        self.seq = SeqCounter()
        self.channel = LspChannel(server)
        self.ask_session_id: str | None = None
        self._progress_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turns: set[asyncio.Future[TurnResult]] = set()

    @classmethod
    async def start(cls, server: NexusLanguageServer) -> NexusRuntime:
        params = server.initialize_params
        root = workspace_root(params)
        source = SettingsSource(server)
        settings = source.load_initial(params.initialization_options if params else None)
        try:
            store = await SessionStore.open(root, settings.logging)
        except StoreError as exc:
            server.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Error, message=f"Nexus: {exc}")
            )
            raise
        workspace = LspWorkspace(root, server, lambda: source.settings.edits)
        manager = SessionManager(root, settings, workspace, store)
        runtime = cls(server, root, source, store, workspace, manager)
        source.on_change = runtime._settings_changed
        await source.pull()
        log.info("nexus-lsp ready in %s (store %s)", root, store.nexus_dir)
        return runtime

    @property
    def settings(self) -> Settings:
        return self.settings_source.settings

    def _settings_changed(self, settings: Settings) -> None:
        self.manager.update_settings(settings)

    # sessions -----------------------------------------------------------------

    async def new_session(
        self, title: str | None = None, system_prompt: str | None = None, model: str | None = None
    ) -> Session:
        return await self.manager.new_session(title, system_prompt, model)

    async def session_for_prompt(self, session_id: str | None, prompt: str) -> str:
        """``session_id``, or a new session titled from the prompt's first line."""
        if session_id is not None:
            return session_id
        return (await self.new_session(title=title_from(prompt))).id

    def created(self, session: Session) -> dict[str, Any]:
        """The ``nexus/session/new`` result of a session just created."""
        return {
            "sessionId": session.id,
            "title": session.title,
            "createdAt": iso(session.created_at),
            "logDir": self.log_dir(session.id),
        }

    def log_dir(self, session_id: str) -> str:
        folder = self.store.session_dir(session_id)
        try:
            return folder.relative_to(self.root).as_posix()
        except ValueError:
            return folder.as_posix()

    # turns --------------------------------------------------------------------

    async def run_turn(
        self,
        session_id: str,
        prompt: str,
        work_done_token: int | str | None = None,
        *,
        cancel_token: CancellationToken | None = None,
    ) -> TurnResult:
        """Run one turn, reporting it to the client; see the module docstring."""
        token = cancel_token or CancellationToken()
        reporter = TurnReporter(
            self.channel,
            session_id,
            self.seq,
            token,
            new_progress_token=lambda: f"nexus/batch/{next(self._progress_ids)}",
            to_uri=lambda rel: path_to_uri(self.root / rel),
            work_done_token=work_done_token,
            before_batch=self.store.flush,
        )
        turn = asyncio.ensure_future(
            self.manager.send(session_id, prompt, cancel_token=token, sink=reporter)
        )
        self._turns.add(turn)
        turn.add_done_callback(self._turns.discard)
        try:
            return await asyncio.shield(turn)
        except asyncio.CancelledError:
            token.cancel("the request was cancelled")
            await asyncio.gather(turn, return_exceptions=True)  # turnEnd out, store flushed
            raise
        finally:
            reporter.close()

    def cancel_all(self, reason: str) -> int:
        return self.manager.cancel_all(reason)

    # the editor ---------------------------------------------------------------

    def show_transcript(self, session_id: str) -> None:
        """Open the session's Markdown transcript in the editor (``window/showDocument``)."""
        if not client_supports(self.server, "window.show_document.support"):
            return
        uri = path_to_uri(self.store.transcript_path(session_id))
        params = types.ShowDocumentParams(uri=uri, external=False, take_focus=True)
        self.spawn(self.server.window_show_document_async(params), f"showDocument {uri}")

    def spawn(self, work: Any, what: str) -> None:
        """Run ``work`` in a task kept until done; its failure is logged."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.warning("%s failed: %s", what, finished.exception())

        task.add_done_callback(done)

    async def aclose(self) -> None:
        """Cancel running turns (their turnEnd and history are written), close the store."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.manager.cancel_all("the server is shutting down")
        if self._turns:
            # bounded: a turn stuck beyond its cancel must not keep the process alive
            await asyncio.wait(set(self._turns), timeout=CLOSE_TIMEOUT)
        await self.manager.aclose()
