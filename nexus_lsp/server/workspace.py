"""LspWorkspace: the skills' :class:`~nexus_lsp.skills.workspace.Workspace` in an editor.

Paths, confinement, listings and disk reads come from
:class:`~nexus_lsp.skills.disk.DiskWorkspace`. On top of it:

- ``read_text`` returns the editor's open buffer (unsaved changes included);
- ``apply`` sends each change as ONE ``workspace/applyEdit`` (protocol §6), built by
  :mod:`nexus_lsp.server.edits` in the negotiated position encoding, and races the
  editor's answer against the turn's cancellation: an answer arriving after a
  cancel is logged and never counted as applied;
- a client without ``workspace.applyEdit`` (or without the resource operation a
  change needs) gets the change written to disk atomically when
  ``edits.fallbackToDisk`` is set, and a tool error saying so otherwise.

Editors apply edits to files that are not open in buffers they do not save (Neovim
always, VS Code for background documents). Until the editor reports on such a file
(didOpen, didSave, didClose), its edited text is kept here so the next read sees
what the editor holds, not the stale disk file the next edit's offsets would miss.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import TextDocument

from nexus_lsp.config import EditSettings
from nexus_lsp.core.cancel import CancellationToken, Cancelled, race
from nexus_lsp.errors import EditRejected, ToolError
from nexus_lsp.server.channel import client_supports
from nexus_lsp.server.edits import EditTarget, build_workspace_edit, needed_resource_operation
from nexus_lsp.skills.disk import DiskWorkspace
from nexus_lsp.skills.workspace import DeleteFile, FileChange, RenameFile, WriteText

__all__ = ["LspWorkspace", "path_to_uri"]

log = logging.getLogger(__name__)


def path_to_uri(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()


class LspWorkspace(DiskWorkspace):
    """Open buffers and ``workspace/applyEdit`` over a :class:`DiskWorkspace`."""

    def __init__(
        self, root: Path, server: LanguageServer, edit_settings: Callable[[], EditSettings]
    ) -> None:
        super().__init__(root)
        self._server = server
        self._edit_settings = edit_settings
        self._edited: dict[Path, str] = {}  # texts the editor holds for unopened files

    async def read_text(self, path: Path) -> str:
        document = self.open_document(path)
        if document is not None:
            return document.source
        if path in self._edited:
            return self._edited[path]
        return await super().read_text(path)

    def open_document(self, path: Path) -> TextDocument | None:
        """The editor's open document for ``path`` (a resolved path), if any."""
        documents: dict[str, TextDocument] = self._server.workspace.text_documents
        for document in documents.values():
            doc_path = to_fs_path(document.uri)
            if doc_path and Path(os.path.realpath(doc_path)) == path:
                return document
        return None

    def document_event(self, uri: str) -> None:
        """The editor opened, saved or closed ``uri``: its own state is current again."""
        fs_path = to_fs_path(uri)
        if fs_path:
            self._edited.pop(Path(os.path.realpath(fs_path)), None)

    async def apply(self, change: FileChange, label: str, cancel_token: CancellationToken) -> None:
        cancel_token.raise_if_cancelled()
        settings = self._edit_settings()
        problem = self._unsupported(change)
        if problem is not None:
            if not settings.fallback_to_disk:
                raise ToolError("failed", f"{problem}, and edits.fallbackToDisk is off")
            log.info("%s: %s; writing to disk", label, problem)
            await asyncio.to_thread(self.apply_to_disk, change, cancel_token)
            return
        edit = self._workspace_edit(change, label, confirm=settings.confirm)
        result = await self._send(edit, change, label, cancel_token)
        if not result.applied:
            raise EditRejected(result.failure_reason or "")
        self._remember(change)

    def _unsupported(self, change: FileChange) -> str | None:
        if not client_supports(self._server, "workspace.apply_edit"):
            return "the editor does not support workspace/applyEdit"
        needed = needed_resource_operation(change)
        if needed is None:
            return None
        if needed not in self._resource_operations():
            return f"the editor cannot {needed} files with workspace/applyEdit"
        return None

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
        if isinstance(change, WriteText) and change.original is not None:
            current = document.source if document is not None else self._edited.get(change.path)
            if current is not None and current != change.original:
                raise ToolError(
                    "failed",
                    f"{self.relative(change.path)} changed in the editor while the edit was "
                    "prepared; read it again",
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

    async def _send(
        self, edit: types.WorkspaceEdit, change: FileChange, label: str, token: CancellationToken
    ) -> types.ApplyWorkspaceEditResult:
        params = types.ApplyWorkspaceEditParams(edit=edit, label=label)
        answer: asyncio.Future[Any] = asyncio.wrap_future(
            self._server.protocol.send_request(types.WORKSPACE_APPLY_EDIT, params)
        )
        try:
            # shield: a cancel must stop waiting, not the bookkeeping of the answer
            result = await race(asyncio.shield(answer), token)
        except (Cancelled, asyncio.CancelledError):
            # The turn's token, or the tool's task (a batch interrupts running tools).
            answer.add_done_callback(partial(self._late_answer, change, label))
            raise
        except Exception as exc:
            raise ToolError(
                "failed", f"the editor answered workspace/applyEdit with: {exc}"
            ) from exc
        if not isinstance(result, types.ApplyWorkspaceEditResult):
            raise ToolError("failed", f"unexpected workspace/applyEdit answer: {result!r}")
        return result

    def _late_answer(self, change: FileChange, label: str, answer: asyncio.Future[Any]) -> None:
        if answer.cancelled():
            return
        exc = answer.exception()
        if exc is not None:
            log.info("%s: the editor answered after the cancel with an error: %s", label, exc)
            return
        applied = getattr(answer.result(), "applied", False)
        log.warning(
            "%s: the editor answered applied=%s after the turn was cancelled; "
            "the session does not count it as applied",
            label,
            applied,
        )
        if applied:  # the editor holds the new text: later reads must see it
            self._remember(change)

    def _remember(self, change: FileChange) -> None:
        if isinstance(change, WriteText):
            if self.open_document(change.path) is None:
                self._edited[change.path] = change.content
        elif isinstance(change, DeleteFile):
            self._edited.pop(change.path, None)
        elif isinstance(change, RenameFile) and change.path in self._edited:
            self._edited[change.new_path] = self._edited.pop(change.path)
