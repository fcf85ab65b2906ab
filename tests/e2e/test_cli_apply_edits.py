"""The ask client as the editor: workspace edits applied to disk (nexus_lsp.client.edits)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pygls.uris import from_fs_path

from nexus_lsp.client.edits import (
    EditRefused,
    apply_text_edits,
    apply_workspace_edit,
    handle_apply_edit,
)


def _uri(path: Path) -> str:
    uri = from_fs_path(str(path))
    assert isinstance(uri, str)
    return uri


def _edit(sl: int, sc: int, el: int, ec: int, text: str) -> lsp.TextEdit:
    return lsp.TextEdit(
        range=lsp.Range(
            start=lsp.Position(line=sl, character=sc), end=lsp.Position(line=el, character=ec)
        ),
        new_text=text,
    )


def _doc_edit(path: Path, *edits: lsp.TextEdit) -> lsp.TextDocumentEdit:
    return lsp.TextDocumentEdit(
        text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=_uri(path), version=None),
        edits=list(edits),
    )


def test_positions_are_utf16_code_units() -> None:
    # "😀" is two UTF-16 units: character 3 on line 0 is just after it.
    text = "a😀b\nsecond\r\nthird"
    assert apply_text_edits(text, [_edit(0, 3, 0, 4, "B")]) == "a😀B\nsecond\r\nthird"
    # \r\n is one line break; positions past the line end clamp to it.
    assert apply_text_edits(text, [_edit(1, 0, 1, 99, "2nd")]) == "a😀b\n2nd\r\nthird"
    # Lines past the end clamp to the end of the text.
    assert apply_text_edits(text, [_edit(9, 0, 9, 0, "!")]) == text + "!"


def test_several_edits_apply_against_the_original_text() -> None:
    text = "one two three\n"
    edits = [_edit(0, 8, 0, 13, "3"), _edit(0, 0, 0, 0, ">"), _edit(0, 0, 0, 3, "1")]
    assert apply_text_edits(text, edits) == ">1 two 3\n"
    # Inserts at one position keep their array order.
    assert apply_text_edits("x", [_edit(0, 0, 0, 0, "a"), _edit(0, 0, 0, 0, "b")]) == "abx"


def test_overlapping_edits_are_refused() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        apply_text_edits("abcdef", [_edit(0, 0, 0, 4, "x"), _edit(0, 2, 0, 5, "y")])


def test_text_edit_create_rename_delete(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\ny = 2\n", encoding="utf-8")
    (tmp_path / "old.txt").write_text("old", encoding="utf-8")
    (tmp_path / "gone.txt").write_text("bye", encoding="utf-8")
    os.chmod(tmp_path / "app.py", 0o755)
    new = tmp_path / "pkg" / "new.py"
    edit = lsp.WorkspaceEdit(
        document_changes=[
            _doc_edit(tmp_path / "app.py", _edit(1, 4, 1, 5, "20")),
            lsp.CreateFile(uri=_uri(new)),
            _doc_edit(new, _edit(0, 0, 0, 0, "print('é')\n")),
            lsp.RenameFile(
                old_uri=_uri(tmp_path / "old.txt"), new_uri=_uri(tmp_path / "renamed.txt")
            ),
            lsp.DeleteFile(uri=_uri(tmp_path / "gone.txt")),
        ]
    )
    apply_workspace_edit(edit, tmp_path)
    assert (tmp_path / "app.py").read_text(encoding="utf-8") == "x = 1\ny = 20\n"
    assert stat.S_IMODE((tmp_path / "app.py").stat().st_mode) == 0o755  # mode kept
    assert new.read_bytes() == "print('é')\n".encode()
    assert not (tmp_path / "old.txt").exists()
    assert (tmp_path / "renamed.txt").read_text(encoding="utf-8") == "old"
    assert not (tmp_path / "gone.txt").exists()
    assert not list(tmp_path.rglob("*.tmp"))  # no temporary files left behind


def test_a_bad_change_refuses_the_whole_edit_before_writing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n", encoding="utf-8")
    (tmp_path / "exists.txt").write_text("keep", encoding="utf-8")
    edit = lsp.WorkspaceEdit(
        document_changes=[
            _doc_edit(tmp_path / "a.txt", _edit(0, 0, 0, 1, "A")),
            lsp.CreateFile(uri=_uri(tmp_path / "exists.txt")),
        ]
    )
    result = handle_apply_edit(lsp.ApplyWorkspaceEditParams(edit=edit, label="Nexus: x"), tmp_path)
    assert result.applied is False
    assert result.failed_change == 1
    assert (
        result.failure_reason is not None and "exists.txt: already exists" in result.failure_reason
    )
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "a\n"  # nothing written


def test_create_options_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("data", encoding="utf-8")
    ignore = lsp.CreateFileOptions(ignore_if_exists=True)
    apply_workspace_edit(
        lsp.WorkspaceEdit(
            document_changes=[lsp.CreateFile(uri=_uri(tmp_path / "f.txt"), options=ignore)]
        ),
        tmp_path,
    )
    assert (tmp_path / "f.txt").read_text(encoding="utf-8") == "data"
    overwrite = lsp.CreateFileOptions(overwrite=True)
    apply_workspace_edit(
        lsp.WorkspaceEdit(
            document_changes=[lsp.CreateFile(uri=_uri(tmp_path / "f.txt"), options=overwrite)]
        ),
        tmp_path,
    )
    assert (tmp_path / "f.txt").read_text(encoding="utf-8") == ""
    with pytest.raises(EditRefused, match="no such file"):
        apply_workspace_edit(
            lsp.WorkspaceEdit(
                document_changes=[_doc_edit(tmp_path / "nope.py", _edit(0, 0, 0, 0, "x"))]
            ),
            tmp_path,
        )
    apply_workspace_edit(
        lsp.WorkspaceEdit(
            document_changes=[
                lsp.DeleteFile(
                    uri=_uri(tmp_path / "nope.py"),
                    options=lsp.DeleteFileOptions(ignore_if_not_exists=True),
                )
            ]
        ),
        tmp_path,
    )


def test_plain_changes_map_and_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n", encoding="utf-8")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\n")
    apply_workspace_edit(
        lsp.WorkspaceEdit(changes={_uri(tmp_path / "a.txt"): [_edit(0, 0, 0, 5, "bye")]}), tmp_path
    )
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "bye\n"
    with pytest.raises(EditRefused, match="not UTF-8"):
        apply_workspace_edit(
            lsp.WorkspaceEdit(changes={_uri(tmp_path / "latin.txt"): [_edit(0, 0, 0, 0, "x")]}),
            tmp_path,
        )


def test_nothing_outside_the_workspace_is_touched(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "outside.txt"
    (root / "link").symlink_to(tmp_path)
    for target in (outside, root / ".." / "outside.txt", root / "link" / "outside.txt"):
        with pytest.raises(EditRefused, match="outside the workspace"):
            apply_workspace_edit(
                lsp.WorkspaceEdit(document_changes=[lsp.CreateFile(uri=_uri(target))]), root
            )
    assert not outside.exists()


def test_edit_then_rename_in_one_edit(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n", encoding="utf-8")
    apply_workspace_edit(
        lsp.WorkspaceEdit(
            document_changes=[
                _doc_edit(tmp_path / "a.py", _edit(0, 4, 0, 5, "2")),
                lsp.RenameFile(old_uri=_uri(tmp_path / "a.py"), new_uri=_uri(tmp_path / "b.py")),
                _doc_edit(tmp_path / "b.py", _edit(1, 0, 1, 0, "b = 3\n")),
            ]
        ),
        tmp_path,
    )
    assert not (tmp_path / "a.py").exists()
    assert (tmp_path / "b.py").read_text(encoding="utf-8") == "a = 2\nb = 3\n"
