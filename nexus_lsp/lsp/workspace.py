"""LspWorkspace: the host's :class:`~nexus_lsp.host.editor.EditorWorkspace` over LSP.

The shared part (open buffers first, the disk fallback, cancel races, what the editor
holds for files it edited but did not save) is the host's. This door supplies:

- the open buffers pygls keeps in sync from ``didOpen``/``didChange``;
- whether the client can apply a change (``workspace.applyEdit``, and the resource
  operation a create/rename/delete needs);
- each change sent as ONE ``workspace/applyEdit`` (protocol §6), built by
  :mod:`nexus_lsp.lsp.edits` in the negotiated position encoding, with a change
  annotation asking for confirmation when ``edits.confirm`` is set.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import TextDocument

from nexus_lsp.config import EditSettings
from nexus_lsp.errors import ToolError
from nexus_lsp.host.editor import EditorAnswer, EditorWorkspace
from nexus_lsp.lsp.channel import client_supports
from nexus_lsp.lsp.edits import (
    EditTarget,
    build_workspace_edit,
    merge_workspace_edits,
    needed_resource_operation,
)
from nexus_lsp.skills.workspace import FileChange, RenameFile

__all__ = ["LspWorkspace", "path_to_uri"]


def path_to_uri(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()


class LspWorkspace(EditorWorkspace):
    """Open buffers and ``workspace/applyEdit`` of an LSP client."""

    def __init__(
        self, root: Path, server: LanguageServer, edit_settings: Callable[[], EditSettings]
    ) -> None:
        super().__init__(root, edit_settings)
        self._server = server

    def buffer_text(self, path: Path) -> str | None:
        document = self.open_document(path)
        return document.source if document is not None else None

    def open_buffers(self) -> dict[Path, str]:
        documents: dict[str, TextDocument] = self._server.workspace.text_documents
        found: dict[Path, str] = {}
        for document in documents.values():
            doc_path = to_fs_path(document.uri)
            if doc_path:
                found[Path(os.path.realpath(doc_path))] = document.source
        return found

    def open_document(self, path: Path) -> TextDocument | None:
        """The editor's open document for ``path`` (a resolved path), if any."""
        documents: dict[str, TextDocument] = self._server.workspace.text_documents
        for document in documents.values():
            doc_path = to_fs_path(document.uri)
            if doc_path and Path(os.path.realpath(doc_path)) == path:
                return document
        return None

    def uri_event(self, uri: str) -> None:
        """``didOpen``/``didSave``/``didClose`` of ``uri``."""
        fs_path = to_fs_path(uri)
        if fs_path:
            self.document_event(Path(os.path.realpath(fs_path)))

    def cannot_apply(self, change: FileChange) -> str | None:
        if not client_supports(self._server, "workspace.apply_edit"):
            return "the editor does not support workspace/applyEdit"
        needed = needed_resource_operation(change)
        if needed is None:
            return None
        if needed not in self._resource_operations():
            return f"the editor cannot {needed} files with workspace/applyEdit"
        return None

    def send_to_editor(
        self, change: FileChange, label: str, *, confirm: bool
    ) -> asyncio.Future[EditorAnswer]:
        edit = self._workspace_edit(change, label, confirm=confirm)
        params = types.ApplyWorkspaceEditParams(edit=edit, label=label)
        request = asyncio.wrap_future(
            self._server.protocol.send_request(types.WORKSPACE_APPLY_EDIT, params)
        )
        return asyncio.ensure_future(_answer(request))

    async def send_all_to_editor(
        self, changes: Sequence[FileChange], label: str
    ) -> EditorAnswer:
        """ONE ``workspace/applyEdit`` for all ``changes`` (a revert: one undo step)."""
        confirm = self._edit_settings().confirm
        edits = []
        touched: set[Path] = set()
        for change in changes:
            edit = self._workspace_edit(change, label, confirm=confirm)
            if touched & {change.path}:  # its version moved with an earlier part
                _drop_versions(edit)
            touched.add(change.path)
            if isinstance(change, RenameFile):
                touched.add(change.new_path)
            edits.append(edit)
        edit = merge_workspace_edits(edits)
        params = types.ApplyWorkspaceEditParams(edit=edit, label=label)
        request = asyncio.wrap_future(
            self._server.protocol.send_request(types.WORKSPACE_APPLY_EDIT, params)
        )
        return await _answer(request)

    def _resource_operations(self) -> set[str]:
        kinds = client_supports(self._server, "workspace.workspace_edit.resource_operations")
        return {str(getattr(k, "value", k)) for k in kinds or ()}

    def _document_changes(self) -> bool:
        """Whether ``documentChanges`` may be used.

        Resource operations only exist in ``documentChanges``, so a client listing
        them supports it even without saying so (Neovim advertises only those).
        """
        return bool(
            client_supports(self._server, "workspace.workspace_edit.document_changes")
            or self._resource_operations()
        )

    def _workspace_edit(
        self, change: FileChange, label: str, *, confirm: bool
    ) -> types.WorkspaceEdit:
        document = self.open_document(change.path)
        target = EditTarget(
            uri=document.uri if document is not None else path_to_uri(change.path),
            version=document.version if document is not None else None,
        )
        annotation = None
        if confirm and client_supports(
            self._server, "workspace.workspace_edit.change_annotation_support"
        ):
            annotation = types.ChangeAnnotation(label=label, needs_confirmation=True)
        new_uri = path_to_uri(change.new_path) if isinstance(change, RenameFile) else None
        return build_workspace_edit(
            change,
            target,
            encoding=self.position_encoding(),
            document_changes=self._document_changes(),
            new_uri=new_uri,
            annotation=annotation,
        )

    def position_encoding(self) -> str:
        encoding = self._server.workspace.position_encoding or types.PositionEncodingKind.Utf16
        return str(getattr(encoding, "value", encoding))


def _drop_versions(edit: types.WorkspaceEdit) -> None:
    for op in edit.document_changes or ():
        if isinstance(op, types.TextDocumentEdit):
            op.text_document.version = None


async def _answer(request: asyncio.Future[Any]) -> EditorAnswer:
    try:
        result = await request
    except Exception as exc:
        raise ToolError(
            "failed", f"the editor answered workspace/applyEdit with: {exc}"
        ) from exc
    if not isinstance(result, types.ApplyWorkspaceEditResult):
        raise ToolError("failed", f"unexpected workspace/applyEdit answer: {result!r}")
    return EditorAnswer(result.applied, result.failure_reason)
