"""File changes → LSP ``WorkspaceEdit`` (protocol §6).

A skill's :class:`~nexus_lsp.skills.workspace.WriteText` carries minimal
replacements as code-point offsets into the text it read. Editors want line/character
positions counted in the negotiated position encoding (UTF-16 unless the client
chose otherwise), so an astral character such as an emoji counts 2 in UTF-16, 4 in
UTF-8 and 1 in UTF-32. :class:`LineIndex` finds an offset's line (LSP line ends are
``\\n``, ``\\r\\n`` and ``\\r``), by C-speed scans or, for many lookups, an index of
the line starts built in one pass, and converts each offset by encoding only the part
of its line before it, so a 5 MB document is never copied per edit.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lsprotocol import types

from nexus_lsp.skills.workspace import DeleteFile, FileChange, RenameFile, WriteText

__all__ = [
    "EditTarget",
    "LineIndex",
    "build_workspace_edit",
    "merge_workspace_edits",
    "needed_resource_operation",
]

UTF16: str = types.PositionEncodingKind.Utf16
_LINE_END = re.compile(r"\r\n|\r|\n")


class LineIndex:
    """Offsets of line starts in ``text``, for offset → LSP position.

    The index of every line start is built only when needed: for text whose only
    line end is ``\\n`` (most files), the first few positions are found with two
    C-speed scans each (``count`` and ``rfind``), which for one edit in a 5 MB
    document is far cheaper than indexing its 60k lines first.
    """

    __slots__ = ("_lookups", "_newline_only", "_starts", "_text")

    # More lookups than this on one text (replaceAll with many hits): index it.
    SCANNED_LOOKUPS = 8

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: list[int] | None = None
        self._newline_only = "\r" not in text
        self._lookups = 0

    def _line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0, *(m.end() for m in _LINE_END.finditer(self._text))]
        return self._starts

    @property
    def line_count(self) -> int:
        if self._starts is None and self._newline_only:
            return self._text.count("\n") + 1
        return len(self._line_starts())

    def _line_of(self, offset: int) -> tuple[int, int]:
        """(line, offset of the line's start) of ``offset``."""
        self._lookups += 1
        if self._starts is None and self._newline_only and self._lookups <= self.SCANNED_LOOKUPS:
            return self._text.count("\n", 0, offset), self._text.rfind("\n", 0, offset) + 1
        starts = self._line_starts()
        line = bisect.bisect_right(starts, offset) - 1
        return line, starts[line]

    def position(self, offset: int, encoding: str = UTF16) -> types.Position:
        if not 0 <= offset <= len(self._text):
            raise ValueError(f"offset {offset} outside the text (length {len(self._text)})")
        line, start = self._line_of(offset)
        before = self._text[start:offset]
        return types.Position(line=line, character=_units(before, encoding))

    def offset(self, position: types.Position, encoding: str = UTF16) -> int:
        """The code-point offset of an LSP position; past a line's end means its end."""
        starts = self._line_starts()
        if position.line >= len(starts):
            return len(self._text)
        start = starts[position.line]
        stop = starts[position.line + 1] if position.line + 1 < len(starts) else None
        line = self._text[start:stop].rstrip("\r\n") if stop is not None else self._text[start:]
        if encoding == types.PositionEncodingKind.Utf32 or line.isascii():
            return start + min(position.character, len(line))
        units = 0
        for index, char in enumerate(line):
            if units >= position.character:
                return start + index
            units += _units(char, encoding)
        return start + len(line)


def _units(text: str, encoding: str) -> int:
    if not text or encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@dataclass(frozen=True, slots=True)
class EditTarget:
    """How the editor knows a file: its URI and the open document's version."""

    uri: str
    version: int | None = None


def text_edits(change: WriteText, encoding: str) -> list[types.TextEdit]:
    """The minimal text edits of ``change`` (a whole insert for a new file)."""
    if change.original is None:
        if not change.content:
            return []
        start = types.Position(line=0, character=0)
        return [types.TextEdit(range=types.Range(start=start, end=start), new_text=change.content)]
    index = LineIndex(change.original)
    return [
        types.TextEdit(
            range=types.Range(
                start=index.position(r.start, encoding), end=index.position(r.end, encoding)
            ),
            new_text=r.text,
        )
        for r in change.replacements
    ]


def needed_resource_operation(change: FileChange) -> str | None:
    """The resource operation kind (``create``/``rename``/``delete``) a change needs."""
    if isinstance(change, WriteText):
        return types.ResourceOperationKind.Create.value if change.original is None else None
    if isinstance(change, RenameFile):
        return types.ResourceOperationKind.Rename.value
    return types.ResourceOperationKind.Delete.value


def build_workspace_edit(
    change: FileChange,
    target: EditTarget,
    *,
    encoding: str,
    document_changes: bool,
    new_uri: str | None = None,
    annotation: types.ChangeAnnotation | None = None,
) -> types.WorkspaceEdit:
    """One ``WorkspaceEdit`` for one change.

    With ``document_changes`` the edit uses ``TextDocumentEdit`` (with ``target``'s
    version, null when the file is not open) and ``CreateFile``/``RenameFile``/
    ``DeleteFile``; otherwise only an existing file's text can be changed, as
    ``changes``. ``annotation`` (for ``edits.confirm``) asks the editor to confirm.
    """
    annotation_id = "nexus" if annotation is not None else None
    annotations = {"nexus": annotation} if annotation is not None else None
    if not document_changes:
        if not isinstance(change, WriteText) or change.original is None:
            raise ValueError("creating, renaming or deleting files needs documentChanges")
        return types.WorkspaceEdit(changes={target.uri: text_edits(change, encoding)})
    ops: list[
        types.TextDocumentEdit | types.CreateFile | types.RenameFile | types.DeleteFile
    ] = []
    if isinstance(change, WriteText):
        if change.original is None:
            ops.append(
                types.CreateFile(
                    uri=target.uri,
                    options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                    annotation_id=annotation_id,
                )
            )
        edits = text_edits(change, encoding)
        if edits:
            version = None if change.original is None else target.version
            ops.append(_document_edit(target.uri, version, edits, annotation_id))
    elif isinstance(change, RenameFile):
        if new_uri is None:
            raise ValueError("a rename needs the new URI")
        ops.append(
            types.RenameFile(
                old_uri=target.uri,
                new_uri=new_uri,
                options=types.RenameFileOptions(overwrite=False, ignore_if_exists=False),
                annotation_id=annotation_id,
            )
        )
    elif isinstance(change, DeleteFile):
        ops.append(
            types.DeleteFile(
                uri=target.uri,
                options=types.DeleteFileOptions(recursive=False, ignore_if_not_exists=False),
                annotation_id=annotation_id,
            )
        )
    return types.WorkspaceEdit(document_changes=ops, change_annotations=annotations)


def merge_workspace_edits(edits: Sequence[types.WorkspaceEdit]) -> types.WorkspaceEdit:
    """One edit doing ``edits`` in order (all ``documentChanges``, or all ``changes``
    on distinct files)."""
    if all(e.document_changes is None for e in edits):
        changes: dict[str, list[types.TextEdit]] = {}
        for e in edits:
            for uri, items in (e.changes or {}).items():
                changes.setdefault(uri, []).extend(items)
        return types.WorkspaceEdit(changes=changes)
    ops: list[types.TextDocumentEdit | types.CreateFile | types.RenameFile | types.DeleteFile]
    ops = []
    annotations: dict[str, types.ChangeAnnotation] = {}
    for e in edits:
        if e.document_changes is None:
            raise ValueError("cannot mix changes and documentChanges in one edit")
        ops.extend(e.document_changes)
        annotations.update(e.change_annotations or {})
    return types.WorkspaceEdit(document_changes=ops, change_annotations=annotations or None)


def _document_edit(
    uri: str, version: int | None, edits: Sequence[types.TextEdit], annotation_id: str | None
) -> types.TextDocumentEdit:
    items: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit]
    if annotation_id is None:
        items = list(edits)
    else:
        items = [
            types.AnnotatedTextEdit(range=e.range, new_text=e.new_text, annotation_id=annotation_id)
            for e in edits
        ]
    return types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
        edits=items,
    )
