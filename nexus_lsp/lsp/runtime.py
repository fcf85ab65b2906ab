"""The LSP door's view of the workspace runtime: turns reported to an LSP client.

The runtime itself (store, sessions, the cancel path of a turn) is the host's
:class:`~nexus_lsp.host.runtime.WorkspaceRuntime`. This adds what is LSP's: settings
from ``initializationOptions`` and ``workspace/configuration``, the ``seq`` of the
update notifications, the :class:`~nexus_lsp.lsp.updates.TurnReporter` of each turn
(flushing the store before each tool batch), and showing a transcript with
``window/showDocument``. Built once after ``initialize`` (:meth:`LspRuntime.start`).
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from nexus_lsp.config import Settings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import EventSink, TurnResult
from nexus_lsp.host.runtime import WorkspaceRuntime
from nexus_lsp.lsp.channel import LspChannel, LspNotifier, client_features
from nexus_lsp.lsp.permissions import LspPermissionAsker
from nexus_lsp.lsp.settings import LspSettingsSource
from nexus_lsp.lsp.steps import TurnSteps
from nexus_lsp.lsp.updates import SeqCounter, TurnReporter
from nexus_lsp.lsp.workspace import LspWorkspace, path_to_uri

__all__ = ["LspRuntime", "workspace_root"]

log = logging.getLogger(__name__)


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


class LspRuntime:
    def __init__(
        self,
        server: LanguageServer,
        host: WorkspaceRuntime[LspWorkspace],
        settings: LspSettingsSource,
    ) -> None:
        self.server = server
        self.host = host
        self.settings_source = settings
        self.seq = SeqCounter()
        self.channel = LspChannel(server)
        self.ask_session_id: str | None = None
        self._progress_ids = itertools.count(1)

    @classmethod
    async def start(
        cls,
        server: LanguageServer,
        params: types.InitializeParams | None,
        source: LspSettingsSource,
    ) -> LspRuntime:
        """Open the workspace's runtime with the settings of ``source``."""
        options = params.initialization_options if params else None
        host = await WorkspaceRuntime.open(
            workspace_root(params),
            source.layers,
            lambda root, s: LspWorkspace(root, server, lambda: s.settings.edits),
            LspNotifier(server),
        )
        host.manager.asker = LspPermissionAsker(server, client_features(options))
        runtime = cls(server, host, source)
        if not source.pulled:
            await source.pull()
        log.info("nexus-lsp ready in %s (store %s)", host.root, host.store.nexus_dir)
        return runtime

    @property
    def settings(self) -> Settings:
        return self.host.settings

    @property
    def workspace(self) -> LspWorkspace:
        return self.host.workspace

    async def run_turn(
        self,
        session_id: str,
        prompt: str,
        work_done_token: int | str | None = None,
        *,
        cancel_token: CancellationToken | None = None,
        steps: bool = False,
    ) -> TurnResult:
        """Run one turn, reporting it to the client as updates and progress.

        ``steps``: the turn's current step goes to ``work_done_token``'s progress as
        its message (the server created that progress for a background ``nexus.ask``).
        """
        token = cancel_token or CancellationToken()
        reporter = TurnReporter(
            self.channel,
            session_id,
            self.seq,
            token,
            new_progress_token=lambda: self.new_progress_token("batch"),
            to_uri=lambda rel: path_to_uri(self.host.root / rel),
            work_done_token=work_done_token,
            before_batch=self.host.store.flush,
        )
        sink: EventSink = reporter
        if steps and work_done_token is not None:
            sink = TurnSteps(reporter, self.channel, work_done_token)
        try:
            return await self.host.run_turn(session_id, prompt, sink, token)
        finally:
            reporter.close()

    def new_progress_token(self, what: str) -> str:
        """A fresh server-created progress token (``nexus/turn/3``, ``nexus/batch/4``)."""
        return f"nexus/{what}/{next(self._progress_ids)}"

    async def aclose(self) -> None:
        await self.host.aclose()
