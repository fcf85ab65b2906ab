"""File tools through the editor: open buffers, versions, resource operations, refusals,
clients without applyEdit, and the confinement corpus."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types

from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import TestEditor, connected, settings, uri


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments}


def tool_messages(model: ScriptedModelServer) -> dict[str, str]:
    """The tool results the model was sent last, by call id."""
    messages = model.requests[-1].json["messages"]
    return {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}


async def test_read_sees_unsaved_buffer_and_edits_go_to_the_open_document(
    editor: TestEditor, model: ScriptedModelServer, workspace: Path
) -> None:
    app = workspace / "src" / "app.py"
    doc = editor.open(app)
    editor.type_text(doc, types.Position(line=0, character=0), "# unsaved 😀 note\n")
    model.extend([
        {"toolCalls": [call("r1", "read_file", path="src/app.py")]},
        {"toolCalls": [call("e1", "edit_file", path="src/app.py",
                            oldText="note", newText="NOTE")]},
        {"text": "ok"},
    ])
    result = await editor.send("look")
    assert [c["status"] for c in result["toolCalls"]] == ["completed", "completed"]
    assert "# unsaved 😀 note" in model.requests[1].json["messages"][-1]["content"]
    version, text = editor.buffers[doc]
    assert text.startswith("# unsaved 😀 NOTE\n") and version == 3
    assert "unsaved" not in app.read_text()  # the server never wrote the file itself
    (request,) = editor.edit_requests
    assert request.edit.document_changes is not None  # Neovim too: it lists resource ops
    doc_edit = request.edit.document_changes[0]
    assert isinstance(doc_edit, types.TextDocumentEdit)
    assert doc_edit.text_document.version == 2
    (edit,) = doc_edit.edits
    assert edit.range.start.line == 0 and edit.range.end.line == 0  # minimal: one word


async def test_create_rename_delete_through_the_editor(
    editor: TestEditor, model: ScriptedModelServer, workspace: Path
) -> None:
    model.extend([
        {"toolCalls": [call("w1", "write_file", path="docs/new.md", content="# New\n")]},
        {"toolCalls": [call("m1", "rename_file", path="docs/new.md", newPath="docs/moved.md")]},
        {"toolCalls": [call("d1", "delete_file", path="README.md")]},
        {"text": "done"},
    ])
    result = await editor.send("shuffle files")
    assert [c["status"] for c in result["toolCalls"]] == ["completed"] * 3, result
    assert (workspace / "docs" / "moved.md").read_text() == "# New\n"
    assert not (workspace / "docs" / "new.md").exists()
    assert not (workspace / "README.md").exists()
    kinds = [
        [type(op).__name__ for op in r.edit.document_changes or ()] for r in editor.edit_requests
    ]
    assert kinds == [["CreateFile", "TextDocumentEdit"], ["RenameFile"], ["DeleteFile"]]
    assert [r.label for r in editor.edit_requests] == [
        "Nexus: write_file docs/new.md",
        "Nexus: rename_file docs/new.md",
        "Nexus: delete_file README.md",
    ]


async def test_a_rejected_edit_fails_the_tool_with_the_editors_reason(
    vscode: TestEditor, model: ScriptedModelServer, workspace: Path
) -> None:
    vscode.reject_edits = "the user declined the change"
    model.extend([
        {"toolCalls": [call("e1", "write_file", path="src/app.py", content="gone\n")]},
        {"text": "understood"},
    ])
    result = await vscode.send("overwrite")
    (record,) = result["toolCalls"]
    assert record["status"] == "failed"
    assert "the user declined the change" in record["error"]
    assert "the user declined the change" in tool_messages(model)["e1"]
    assert (workspace / "src" / "app.py").read_text().startswith("def greet")
    assert model.validation_errors == []


def without_apply_edit() -> types.ClientCapabilities:
    capabilities = copy.deepcopy(pytest_lsp.client_capabilities("visual-studio-code"))
    assert capabilities.workspace is not None
    capabilities.workspace.apply_edit = False
    return capabilities


@pytest.mark.parametrize("fallback", [True, False])
async def test_client_without_apply_edit(
    fallback: bool, model: ScriptedModelServer, workspace: Path
) -> None:
    options = settings(model.openai_base_url, edits={"fallbackToDisk": fallback})
    async with connected(without_apply_edit(), workspace, options) as client:
        model.extend([
            {"toolCalls": [call("e1", "edit_file", path="src/app.py",
                                oldText="'hi '", newText="'hey '")]},
            {"text": "ok"},
        ])
        result = await client.send("edit")
        assert client.edit_requests == []
        text = (workspace / "src" / "app.py").read_text()
        (record,) = result["toolCalls"]
        if fallback:
            assert record["status"] == "completed"
            assert "'hey '" in text
        else:
            assert record["status"] == "failed"
            assert "workspace/applyEdit" in record["error"]
            assert "fallbackToDisk" in record["error"]
            assert "'hi '" in text


async def test_confinement_corpus(
    vscode: TestEditor, model: ScriptedModelServer, workspace: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside.txt").write_text("secret outside\n")
    (workspace / "link_out").symlink_to(tmp_path / "outside.txt")
    (workspace / ".git" / "hooks").mkdir(parents=True)
    reads = [  # read-only: one parallel batch, every call runs
        call("c1", "read_file", path="../outside.txt"),
        call("c2", "read_file", path="/etc/passwd"),
        call("c3", "read_file", path="link_out"),
        call("c4", "read_file", path=uri(tmp_path / "outside.txt")),
        call("c5", "list_directory", path=".."),
        call("c6", "search_text", pattern="secret", path=".."),
    ]
    writes = [  # a failed write halts its batch: one batch each
        call("w1", "write_file", path=".git/hooks/pre-commit", content="evil"),
        call("w2", "write_file", path=".nexus/x", content="evil"),
        call("w3", "rename_file", path="README.md", newPath="../escaped.md"),
        call("w4", "edit_file", path="link_out", oldText="secret", newText="public"),
    ]
    model.extend([
        {"toolCalls": reads},
        *({"toolCalls": [w]} for w in writes),
        {"text": "all refused"},
    ])
    result = await vscode.send("try to escape")
    statuses = {c["toolCallId"]: c["status"] for c in result["toolCalls"]}
    assert statuses == {c["id"]: "failed" for c in reads + writes}, result["toolCalls"]
    results = tool_messages(model)
    assert set(results) == set(statuses)
    for call_id, content in results.items():
        assert "refused" in content, (call_id, content)
        assert "secret outside" not in content and "root:" not in content
    assert vscode.edit_requests == []
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists()
    assert not (workspace / ".nexus" / "x").exists()
    assert not (tmp_path / "escaped.md").exists()
    assert (tmp_path / "outside.txt").read_text() == "secret outside\n"
