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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, overload

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from nexus_lsp import wire
from nexus_lsp.config import Settings
from nexus_lsp.core.attachments import Attachment
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import EventSink, TurnResult
from nexus_lsp.host.runtime import WorkspaceRuntime
from nexus_lsp.lsp.channel import LspChannel, LspNotifier, client_features
from nexus_lsp.lsp.diagnostics import LspDiagnosticsSource
from nexus_lsp.lsp.permissions import LspPermissionAsker
from nexus_lsp.lsp.settings import LspSettingsSource
from nexus_lsp.lsp.steps import TurnSteps
from nexus_lsp.lsp.updates import SeqCounter, TurnReporter
from nexus_lsp.lsp.workspace import LspWorkspace, path_to_uri
from nexus_lsp.session.compaction import CompactionOutcome
from nexus_lsp.session.manager import Steered, WhenBusy

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
        features: dict[str, bool] | None = None,
    ) -> None:
        self.server = server
        self.host = host
        self.settings_source = settings
        self.seq = SeqCounter()
        self.channel = LspChannel(server)
        self.ask_session_id: str | None = None
        self._progress_ids = itertools.count(1)
        self.features = features or {}
        # protocol v2: optional client features are used only when declared
        self.diagnostics: LspDiagnosticsSource | None = None
        if self.features.get(wire.FEATURE_DIAGNOSTICS):
            self.diagnostics = LspDiagnosticsSource(server, host.workspace)
            host.manager.diagnostics_source = self.diagnostics
        host.sink_factory = self._follow_up_sink

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
        features = client_features(options)
        host.manager.asker = LspPermissionAsker(server, features)
        runtime = cls(server, host, source, features)
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

    @overload
    async def run_turn(
        self,
        session_id: str,
        prompt: str,
        work_done_token: int | str | None = None,
        *,
        cancel_token: CancellationToken | None = None,
        when_busy: Literal["reject", "queue"] = "reject",
        attachments: Sequence[Attachment] = (),
        steps: bool = False,
    ) -> TurnResult: ...

    @overload
    async def run_turn(
        self,
        session_id: str,
        prompt: str,
        work_done_token: int | str | None = None,
        *,
        cancel_token: CancellationToken | None = None,
        when_busy: WhenBusy,
        attachments: Sequence[Attachment] = (),
        steps: bool = False,
    ) -> TurnResult | Steered: ...

    async def run_turn(
        self,
        session_id: str,
        prompt: str,
        work_done_token: int | str | None = None,
        *,
        cancel_token: CancellationToken | None = None,
        when_busy: WhenBusy = "reject",
        attachments: Sequence[Attachment] = (),
        steps: bool = False,
    ) -> TurnResult | Steered:
        """Run one turn, reporting it to the client as updates and progress.

        ``steps``: the turn's current step goes to ``work_done_token``'s progress as
        its message (the server created that progress for a background ``nexus.ask``).
        """
        token = cancel_token or CancellationToken()
        reporter = self._reporter(session_id, token, work_done_token)
        sink: EventSink = reporter
        if steps and work_done_token is not None:
            sink = TurnSteps(reporter, self.channel, work_done_token)
        try:
            return await self.host.run_turn(
                session_id, prompt, sink, token, when_busy=when_busy, attachments=attachments
            )
        finally:
            reporter.close()

    async def compact(
        self, session_id: str, cancel_token: CancellationToken | None = None
    ) -> CompactionOutcome:
        """``nexus/session/compact``: its ``compaction`` updates carry the last turn's id."""
        token = cancel_token or CancellationToken()
        reporter = self._reporter(session_id, token, None)
        session = await self.host.manager.get(session_id)
        reporter.adopt(session.turn_count)
        try:
            return await self.host.compact(session_id, reporter, token)
        finally:
            reporter.close()

    def _reporter(
        self, session_id: str, token: CancellationToken, work_done_token: int | str | None
    ) -> TurnReporter:
        return TurnReporter(
            self.channel,
            session_id,
            self.seq,
            token,
            new_progress_token=lambda: self.new_progress_token("batch"),
            to_uri=lambda rel: path_to_uri(self.host.root / rel),
            work_done_token=work_done_token,
            before_batch=self.host.store.flush,
            usage_updates=bool(self.features.get(wire.FEATURE_USAGE)),
        )

    def _follow_up_sink(
        self, session_id: str, token: CancellationToken
    ) -> tuple[EventSink, Callable[[], None]]:
        reporter = self._reporter(session_id, token, None)
        return reporter, reporter.close

    def new_progress_token(self, what: str) -> str:
        """A fresh server-created progress token (``nexus/turn/3``, ``nexus/batch/4``)."""
        return f"nexus/{what}/{next(self._progress_ids)}"

    async def aclose(self) -> None:
        await self.host.aclose()
