"""LspWorkspace against a pygls server whose client is faked at send_request."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError
from pygls.workspace import Workspace as PyglsWorkspace

from nexus_lsp.config import EditSettings
from nexus_lsp.core.cancel import CancellationToken, Cancelled
from nexus_lsp.errors import EditRejected, ToolError
from nexus_lsp.lsp.app import create_server
from nexus_lsp.lsp.workspace import LspWorkspace, path_to_uri
from nexus_lsp.skills.disk import minimal_replacement
from nexus_lsp.skills.workspace import RenameFile, TextReplacement, WriteText


class FakeClient:
    """Stands in for the editor at ``protocol.send_request``."""

    def __init__(self) -> None:
        self.sent: list[types.ApplyWorkspaceEditParams] = []
        self.answers: list[Future[Any]] = []
        self.auto: types.ApplyWorkspaceEditResult | None = types.ApplyWorkspaceEditResult(
            applied=True
        )
        self.arrived = asyncio.Event()

    def send_request(self, method: str, params: Any, *_: Any, **__: Any) -> Future[Any]:
        assert method == types.WORKSPACE_APPLY_EDIT
        self.sent.append(params)
        answer: Future[Any] = Future()
        if self.auto is not None:
            answer.set_result(self.auto)
        self.answers.append(answer)
        self.arrived.set()
        return answer


def capabilities(
    *, apply_edit: bool = True, resource_ops: tuple[str, ...] = ("create", "rename", "delete"),
    annotations: bool = False,
) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=apply_edit,
            workspace_edit=types.WorkspaceEditClientCapabilities(
                document_changes=True,
                resource_operations=[types.ResourceOperationKind(k) for k in resource_ops],
                change_annotation_support=(
                    types.ChangeAnnotationsSupportOptions() if annotations else None
                ),
            ),
        )
    )


class Harness:
    def __init__(self, root: Path, caps: types.ClientCapabilities) -> None:
        self.server = create_server()
        self.server.protocol.client_capabilities = caps
        self.server.protocol._workspace = PyglsWorkspace(
            path_to_uri(root), types.TextDocumentSyncKind.Incremental, [],
            types.PositionEncodingKind.Utf16,
        )
        self.client = FakeClient()
        self.server.protocol.send_request = self.client.send_request  # type: ignore[method-assign, assignment]
        self.edits = EditSettings()
        self.workspace = LspWorkspace(root, self.server, lambda: self.edits)

    def open(self, path: Path, text: str, version: int = 4) -> str:
        uri = path_to_uri(path)
        self.server.workspace.put_text_document(
            types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
        return uri


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "a.py").write_text("x = 1\n")
    return tmp_path.resolve()


def write(path: Path, original: str | None, new: str) -> WriteText:
    replacements = (
        minimal_replacement(original, new) if original is not None
        else (TextReplacement(0, 0, new),)
    )
    return WriteText(path, original, new, replacements)


async def test_open_buffer_is_read_and_edited_with_its_version(root: Path) -> None:
    h = Harness(root, capabilities())
    uri = h.open(root / "a.py", "x = 'unsaved'\n")
    assert await h.workspace.read_text(root / "a.py") == "x = 'unsaved'\n"
    change = write(root / "a.py", "x = 'unsaved'\n", "x = 'edited'\n")
    await h.workspace.apply(change, "Nexus: edit_file a.py", CancellationToken())
    (params,) = h.client.sent
    assert params.label == "Nexus: edit_file a.py"
    assert params.edit.document_changes is not None
    (doc_edit,) = params.edit.document_changes
    assert isinstance(doc_edit, types.TextDocumentEdit)
    assert (doc_edit.text_document.uri, doc_edit.text_document.version) == (uri, 4)
    assert (root / "a.py").read_text() == "x = 1\n"  # the editor applies, not the server


async def test_an_edited_unopened_file_reads_as_the_editor_holds_it(root: Path) -> None:
    h = Harness(root, capabilities())
    original = await h.workspace.read_text(root / "a.py")
    await h.workspace.apply(write(root / "a.py", original, "x = 2\n"), "l", CancellationToken())
    assert await h.workspace.read_text(root / "a.py") == "x = 2\n"  # disk still says 1
    await h.workspace.apply(
        RenameFile(root / "a.py", root / "b.py"), "l", CancellationToken()
    )
    assert await h.workspace.read_text(root / "b.py") == "x = 2\n"
    h.workspace.uri_event(path_to_uri(root / "b.py"))  # e.g. the editor saved it
    with pytest.raises(ToolError, match="no such file"):
        await h.workspace.read_text(root / "b.py")


async def test_an_edit_prepared_on_stale_text_is_refused(root: Path) -> None:
    h = Harness(root, capabilities())
    h.open(root / "a.py", "x = 'typed since'\n")
    with pytest.raises(ToolError, match="changed in the editor"):
        await h.workspace.apply(write(root / "a.py", "x = 1\n", "x = 3\n"), "l",
                                CancellationToken())
    assert h.client.sent == []


async def test_applied_false_raises_edit_rejected(root: Path) -> None:
    h = Harness(root, capabilities())
    h.client.auto = types.ApplyWorkspaceEditResult(applied=False, failure_reason="read-only")
    with pytest.raises(EditRejected, match="read-only"):
        await h.workspace.apply(write(root / "a.py", "x = 1\n", "y\n"), "l", CancellationToken())


async def test_an_error_answer_is_a_tool_error(root: Path) -> None:
    h = Harness(root, capabilities())
    h.client.auto = None
    token = CancellationToken()
    task = asyncio.ensure_future(
        h.workspace.apply(write(root / "a.py", "x = 1\n", "y\n"), "l", token)
    )
    await h.client.arrived.wait()
    h.client.answers[0].set_exception(JsonRpcInternalError("editor crashed"))
    with pytest.raises(ToolError, match="editor crashed"):
        await task


async def test_a_cancel_beats_the_editor_and_the_late_answer_is_only_logged(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(root, capabilities())
    h.client.auto = None
    token = CancellationToken()
    task = asyncio.ensure_future(
        h.workspace.apply(write(root / "a.py", "x = 1\n", "x = 9\n"), "Nexus: x", token)
    )
    await h.client.arrived.wait()
    token.cancel("user")
    with pytest.raises(Cancelled):
        await task
    with caplog.at_level(logging.WARNING, logger="nexus_lsp.lsp.workspace"):
        h.client.answers[0].set_result(types.ApplyWorkspaceEditResult(applied=True))
        for _ in range(20):
            await asyncio.sleep(0)
    assert "after the turn was cancelled" in caplog.text
    assert await h.workspace.read_text(root / "a.py") == "x = 9\n"  # what the editor holds


@pytest.mark.parametrize("fallback", [True, False])
async def test_without_apply_edit_the_disk_is_the_fallback(root: Path, fallback: bool) -> None:
    h = Harness(root, capabilities(apply_edit=False))
    h.edits = EditSettings(fallback_to_disk=fallback)
    change = write(root / "new.py", None, "new\n")
    if fallback:
        await h.workspace.apply(change, "l", CancellationToken())
        assert (root / "new.py").read_text() == "new\n"
    else:
        with pytest.raises(ToolError, match="fallbackToDisk is off"):
            await h.workspace.apply(change, "l", CancellationToken())
        assert not (root / "new.py").exists()
    assert h.client.sent == []


async def test_a_missing_resource_operation_uses_the_fallback(root: Path) -> None:
    h = Harness(root, capabilities(resource_ops=("rename",)))
    await h.workspace.apply(write(root / "c.py", None, "c\n"), "l", CancellationToken())
    assert (root / "c.py").read_text() == "c\n" and h.client.sent == []
    await h.workspace.apply(RenameFile(root / "c.py", root / "d.py"), "l", CancellationToken())
    assert len(h.client.sent) == 1  # rename is supported: it goes to the editor


async def test_confirm_asks_the_editor_when_it_can(root: Path) -> None:
    h = Harness(root, capabilities(annotations=True))
    h.edits = EditSettings(confirm=True)
    change = write(root / "a.py", "x = 1\n", "x = 5\n")
    await h.workspace.apply(change, "Nexus: e", CancellationToken())
    edit = h.client.sent[0].edit
    assert edit.change_annotations is not None
    assert edit.change_annotations["nexus"].needs_confirmation is True
    assert edit.change_annotations["nexus"].label == "Nexus: e"
