"""The editor half of the ask client: what it advertises and how it answers the server.

``nexus-lsp ask`` has no buffers and no UI, so it answers the server's requests the
way a headless editor would: workspace edits are applied to disk (``client/edits.py``),
``workspace/configuration`` returns the settings it was started with, messages are
printed on stderr, ``window/showDocument`` is declined, and progress tokens are
accepted so the server reports its tool batches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.client import JsonRPCClient
from pygls.uris import from_fs_path

from nexus_lsp import wire
from nexus_lsp.client.edits import handle_apply_edit
from nexus_lsp.client.permission import TerminalQuestions
from nexus_lsp.client.render import TurnRenderer

__all__ = ["EditorSide", "client_capabilities"]


def client_capabilities() -> lsp.ClientCapabilities:
    """A headless editor: edits with documentChanges and file operations, progress."""
    resource_ops = [
        lsp.ResourceOperationKind.Create,
        lsp.ResourceOperationKind.Rename,
        lsp.ResourceOperationKind.Delete,
    ]
    return lsp.ClientCapabilities(
        workspace=lsp.WorkspaceClientCapabilities(
            apply_edit=True,
            workspace_edit=lsp.WorkspaceEditClientCapabilities(
                document_changes=True,
                resource_operations=resource_ops,
                # Every change is checked before the first is written; a disk error
                # midway leaves the earlier ones applied, which is what "abort" means.
                failure_handling=lsp.FailureHandlingKind.Abort,
            ),
            configuration=True,
            workspace_folders=True,
            did_change_configuration=lsp.DidChangeConfigurationClientCapabilities(
                dynamic_registration=False
            ),
        ),
        window=lsp.WindowClientCapabilities(work_done_progress=True),
        general=lsp.GeneralClientCapabilities(position_encodings=[lsp.PositionEncodingKind.Utf16]),
    )


class EditorSide:
    """Answers the server's requests and notifications for one workspace folder."""

    def __init__(
        self,
        root: Path,
        settings: Mapping[str, Any],
        renderer: TurnRenderer,
        questions: TerminalQuestions | None = None,
    ) -> None:
        self.root = root
        self.settings = dict(settings)
        self.renderer = renderer
        self.questions = questions

    def register(self, client: JsonRPCClient) -> None:
        renderer = self.renderer
        handlers: dict[str, Callable[[Any], Any]] = {
            wire.SESSION_UPDATE: renderer.update,
            lsp.PROGRESS: lambda params: renderer.progress(params.value),
            lsp.WINDOW_WORK_DONE_PROGRESS_CREATE: lambda params: None,
            lsp.WORKSPACE_APPLY_EDIT: self.apply_edit,
            lsp.WORKSPACE_CONFIGURATION: self.configuration,
            lsp.WORKSPACE_WORKSPACE_FOLDERS: lambda params: [self.folder()],
            lsp.WINDOW_SHOW_MESSAGE: self.show_message,
            # Headless: show the question and choose no action, as if dismissed.
            lsp.WINDOW_SHOW_MESSAGE_REQUEST: self.show_message,
            lsp.WINDOW_LOG_MESSAGE: lambda params: renderer.debug(f"server: {params.message}"),
            lsp.WINDOW_SHOW_DOCUMENT: lambda params: lsp.ShowDocumentResult(success=False),
            lsp.CLIENT_REGISTER_CAPABILITY: lambda params: None,
            lsp.CLIENT_UNREGISTER_CAPABILITY: lambda params: None,
        }
        for method, handler in handlers.items():
            # pygls tags handlers with attributes, which bound methods cannot carry.
            client.feature(method)(_plain(handler))
        questions = self.questions
        if questions is not None:

            async def permission(params: Any) -> Any:
                return await questions.answer(params)

            client.feature(wire.PERMISSION_REQUEST)(permission)

    def initialize_params(self, name: str, version: str) -> lsp.InitializeParams:
        folder = self.folder()
        return lsp.InitializeParams(
            capabilities=client_capabilities(),
            process_id=os.getpid(),
            client_info=lsp.ClientInfo(name=name, version=version),
            root_uri=folder.uri,
            workspace_folders=[folder],
            initialization_options=self._options(),
        )

    def _options(self) -> dict[str, Any]:
        if self.questions is None:
            return self.settings
        features = {wire.FEATURE_PERMISSION_REQUESTS: True}
        return {**self.settings, wire.CLIENT_FEATURES: features}

    def folder(self) -> lsp.WorkspaceFolder:
        uri = from_fs_path(str(self.root))
        return lsp.WorkspaceFolder(uri=str(uri), name=self.root.name)

    def apply_edit(self, params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
        result = handle_apply_edit(params, self.root)
        if result.applied:
            self.renderer.debug(f"applied: {params.label}")
        else:
            self.renderer.debug(f"refused: {params.label}: {result.failure_reason}")
        return result

    def configuration(self, params: lsp.ConfigurationParams) -> list[Any]:
        return [self._section(item.section) for item in params.items]

    def _section(self, section: str | None) -> Any:
        value: Any = {wire.SETTINGS_SECTION: self.settings}
        for key in (section or wire.SETTINGS_SECTION).split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    def show_message(self, params: lsp.ShowMessageParams | lsp.ShowMessageRequestParams) -> None:
        style = self.renderer.style
        if params.type == lsp.MessageType.Error:
            self.renderer.note(style.red(f"✗ {params.message}"))
        elif params.type == lsp.MessageType.Warning:
            self.renderer.note(style.yellow(f"⚠ {params.message}"))
        else:
            self.renderer.note(f"ℹ {params.message}")


def _plain(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def handle(params: Any) -> Any:
        return handler(params)

    return handle
