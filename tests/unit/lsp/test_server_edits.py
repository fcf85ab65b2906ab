"""FileChange → WorkspaceEdit: positions in every encoding, resource operations."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from nexus_lsp.lsp.edits import (
    EditTarget,
    LineIndex,
    build_workspace_edit,
    needed_resource_operation,
)
from nexus_lsp.skills.disk import minimal_replacement
from nexus_lsp.skills.workspace import DeleteFile, RenameFile, TextReplacement, WriteText

UTF8 = types.PositionEncodingKind.Utf8
UTF16 = types.PositionEncodingKind.Utf16
UTF32 = types.PositionEncodingKind.Utf32


def pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def test_line_index_counts_astral_characters_per_encoding() -> None:
    text = "a😀b\nsecond 😀😀 x\n"
    index = LineIndex(text)
    after_emoji = text.index("b")
    assert index.position(after_emoji, UTF16) == pos(0, 3)
    assert index.position(after_emoji, UTF8) == pos(0, 5)
    assert index.position(after_emoji, UTF32) == pos(0, 2)
    x = text.index("x")
    assert index.position(x, UTF16) == pos(1, 12)
    assert index.position(x, UTF32) == pos(1, 10)
    assert index.position(len(text), UTF16) == pos(2, 0)


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_line_index_knows_every_lsp_line_ending(eol: str) -> None:
    text = f"one{eol}two{eol}three"
    index = LineIndex(text)
    assert index.line_count == 3
    assert index.position(text.index("two"), UTF16) == pos(1, 0)
    assert index.position(text.index("three") + 2, UTF16) == pos(2, 2)


def test_line_index_scans_and_index_agree_on_every_offset() -> None:
    text = "a😀b\n\nsecond 😀😀 x\nlast"  # only \n: the first lookups scan
    expected = [LineIndex(text).position(o, UTF16) for o in range(len(text) + 1)]
    scanning = LineIndex(text)
    got = [scanning.position(o, UTF16) for o in range(len(text) + 1)]  # scans, then indexes
    assert len(got) > LineIndex.SCANNED_LOOKUPS
    assert got == expected
    assert expected[text.index("x")] == pos(2, 12) and expected[-1] == pos(3, 4)
    assert LineIndex(text).line_count == 4


def test_line_index_does_not_split_on_other_unicode_separators() -> None:
    # str.splitlines() splits on these; LSP does not.
    text = "a\u2028b\x0cc\nd"
    index = LineIndex(text)
    assert index.position(text.index("c"), UTF16) == pos(0, 4)
    assert index.position(text.index("d"), UTF16) == pos(1, 0)


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
def test_offset_is_the_inverse_of_position(encoding: str) -> None:
    text = "héllo 😀 wörld\r\nz😀z\rlast"
    index = LineIndex(text)
    for offset in range(len(text) + 1):
        if text[offset - 1 : offset] == "\r" and text[offset : offset + 1] == "\n":
            continue  # between \r and \n there is no position
        assert index.offset(index.position(offset, encoding), encoding) == offset


def test_offset_clamps_past_the_end_of_a_line_and_of_the_text() -> None:
    index = LineIndex("ab\ncd")
    assert index.offset(pos(0, 99)) == 2
    assert index.offset(pos(9, 0)) == 5


def test_offset_outside_the_text_is_refused() -> None:
    with pytest.raises(ValueError, match="outside the text"):
        LineIndex("abc").position(4)


def change_of(original: str, new: str, path: str = "/w/a.py") -> WriteText:
    return WriteText(Path(path), original, new, minimal_replacement(original, new))


def test_text_document_edit_is_minimal_and_carries_the_version() -> None:
    original = "def f():\n    return '😀'\n"
    change = change_of(original, original.replace("return", "yield"))
    edit = build_workspace_edit(
        change, EditTarget("file:///w/a.py", 7), encoding=UTF16, document_changes=True
    )
    assert edit.document_changes is not None
    (doc_edit,) = edit.document_changes
    assert isinstance(doc_edit, types.TextDocumentEdit)
    assert doc_edit.text_document.version == 7
    (text_edit,) = doc_edit.edits
    assert isinstance(text_edit, types.TextEdit)
    assert text_edit.range == types.Range(start=pos(1, 4), end=pos(1, 10))
    assert text_edit.new_text == "yield"


def test_edit_of_a_closed_document_has_a_null_version() -> None:
    change = change_of("x = 1\n", "x = 2\n")
    edit = build_workspace_edit(
        change, EditTarget("file:///w/a.py"), encoding=UTF16, document_changes=True
    )
    assert edit.document_changes is not None
    doc_edit = edit.document_changes[0]
    assert isinstance(doc_edit, types.TextDocumentEdit)
    assert doc_edit.text_document.version is None


def test_several_replacements_are_converted_against_the_original() -> None:
    original = "a😀 = 1\nb = a😀 + a😀\n"
    starts = (0, original.index("a😀", 3), original.rindex("a😀"))
    replacements = tuple(TextReplacement(i, i + 2, "z") for i in starts)
    change = WriteText(Path("/w/a.py"), original, original.replace("a😀", "z"), replacements)
    edit = build_workspace_edit(
        change, EditTarget("file:///w/a.py", 1), encoding=UTF16, document_changes=True
    )
    assert edit.document_changes is not None
    doc_edit = edit.document_changes[0]
    assert isinstance(doc_edit, types.TextDocumentEdit)
    ranges = [(e.range.start, e.range.end) for e in doc_edit.edits]
    assert ranges == [(pos(0, 0), pos(0, 3)), (pos(1, 4), pos(1, 7)), (pos(1, 10), pos(1, 13))]


def test_new_file_is_created_then_filled() -> None:
    change = WriteText(Path("/w/new.py"), None, "print('hi')\n", (TextReplacement(0, 0, "x"),))
    edit = build_workspace_edit(
        change, EditTarget("file:///w/new.py"), encoding=UTF16, document_changes=True
    )
    assert edit.document_changes is not None
    create, fill = edit.document_changes
    assert isinstance(create, types.CreateFile)
    assert create.uri == "file:///w/new.py"
    assert isinstance(fill, types.TextDocumentEdit)
    assert fill.text_document.version is None
    assert [getattr(e, "new_text", None) for e in fill.edits] == ["print('hi')\n"]
    assert needed_resource_operation(change) == "create"


def test_empty_new_file_is_only_created() -> None:
    change = WriteText(Path("/w/empty"), None, "", ())
    edit = build_workspace_edit(
        change, EditTarget("file:///w/empty"), encoding=UTF16, document_changes=True
    )
    assert edit.document_changes is not None
    assert [type(op) for op in edit.document_changes] == [types.CreateFile]


def test_rename_and_delete_are_resource_operations() -> None:
    rename = RenameFile(Path("/w/a.py"), Path("/w/b.py"))
    edit = build_workspace_edit(
        rename,
        EditTarget("file:///w/a.py"),
        encoding=UTF16,
        document_changes=True,
        new_uri="file:///w/b.py",
    )
    assert edit.document_changes is not None
    (op,) = edit.document_changes
    assert isinstance(op, types.RenameFile)
    assert (op.old_uri, op.new_uri) == ("file:///w/a.py", "file:///w/b.py")
    assert needed_resource_operation(rename) == "rename"

    delete = DeleteFile(Path("/w/a.py"))
    edit = build_workspace_edit(
        delete, EditTarget("file:///w/a.py"), encoding=UTF16, document_changes=True
    )
    assert edit.document_changes is not None
    assert isinstance(edit.document_changes[0], types.DeleteFile)
    assert needed_resource_operation(delete) == "delete"


def test_plain_changes_without_document_changes_support() -> None:
    change = change_of("x = 1\n", "x = 2\n")
    edit = build_workspace_edit(
        change, EditTarget("file:///w/a.py", 3), encoding=UTF16, document_changes=False
    )
    assert edit.document_changes is None
    assert edit.changes is not None
    assert [e.new_text for e in edit.changes["file:///w/a.py"]] == ["2"]
    with pytest.raises(ValueError, match="documentChanges"):
        build_workspace_edit(
            DeleteFile(Path("/w/a.py")),
            EditTarget("file:///w/a.py"),
            encoding=UTF16,
            document_changes=False,
        )


def test_confirmation_annotates_every_operation() -> None:
    change = change_of("a\n", "b\n")
    annotation = types.ChangeAnnotation(label="Nexus: edit_file a.py", needs_confirmation=True)
    edit = build_workspace_edit(
        change,
        EditTarget("file:///w/a.py", 1),
        encoding=UTF16,
        document_changes=True,
        annotation=annotation,
    )
    assert edit.change_annotations == {"nexus": annotation}
    assert edit.document_changes is not None
    doc_edit = edit.document_changes[0]
    assert isinstance(doc_edit, types.TextDocumentEdit)
    assert all(isinstance(e, types.AnnotatedTextEdit) for e in doc_edit.edits)


def test_edits_on_a_five_megabyte_document() -> None:
    line = "x = 'ünïcödé 😀 text'  # padding padding padding\n"
    original = line * (5_000_000 // len(line))
    starts = [i * len(line) for i in range(0, original.count("\n"), 5_000)]
    replacements = tuple(TextReplacement(s, s + 1, "y") for s in starts)
    change = WriteText(Path("/w/big.py"), original, "", replacements)
    edit = build_workspace_edit(
        change, EditTarget("file:///w/big.py", 1), encoding=UTF16, document_changes=True
    )
    assert edit.document_changes is not None
    doc_edit = edit.document_changes[0]
    assert isinstance(doc_edit, types.TextDocumentEdit)
    lines = [e.range.start.line for e in doc_edit.edits]
    assert lines == list(range(0, original.count("\n"), 5_000))
    assert all(e.range.start.character == 0 for e in doc_edit.edits)
    last = LineIndex(original).position(len(original) - 2, UTF16)
    assert last == pos(original.count("\n") - 1, len(line) - 2 + 1)  # the emoji counts 2
