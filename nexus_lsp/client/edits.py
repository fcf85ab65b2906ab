"""``workspace/applyEdit`` applied to disk: the headless ``nexus-lsp ask`` client is the editor.

The server sends every file change of a turn as a workspace edit (protocol §6). An
editor applies it to its buffers; ``nexus-lsp ask`` has no buffers, so it applies the
edit to the files themselves, as an editor that saves at once would:

- text edits use LSP positions in UTF-16 code units (the only position encoding the
  ask client advertises), lines split at ``\\n``, ``\\r\\n`` and ``\\r``;
- resource operations (``CreateFile``, ``RenameFile``, ``DeleteFile``) honour their
  ``overwrite`` / ``ignoreIfExists`` / ``ignoreIfNotExists`` / ``recursive`` options;
- the whole edit is validated against an in-memory view of the files first, so a bad
  change refuses the edit before anything touched the disk; then each change is
  committed in order, files written atomically (temporary file + ``os.replace``) in
  UTF-8, keeping the mode of a file that is replaced;
- nothing outside the workspace folder is touched.

A refused edit answers ``applied: false`` with a ``failureReason`` naming the file and
the problem, and the index of the failed change.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

__all__ = ["EditRefused", "apply_workspace_edit", "apply_text_edits", "handle_apply_edit"]

log = logging.getLogger(__name__)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

TextEditLike = lsp.TextEdit | lsp.AnnotatedTextEdit | lsp.SnippetTextEdit


class EditRefused(Exception):
    """A workspace edit that cannot be applied; ``index`` is the failed change."""

    def __init__(self, reason: str, index: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index


def handle_apply_edit(
    params: lsp.ApplyWorkspaceEditParams, root: Path
) -> lsp.ApplyWorkspaceEditResult:
    """Answer a ``workspace/applyEdit`` request by applying it under ``root``."""
    try:
        apply_workspace_edit(params.edit, root)
    except EditRefused as exc:
        log.info("refused edit %r: %s", params.label, exc.reason)
        return lsp.ApplyWorkspaceEditResult(
            applied=False, failure_reason=exc.reason, failed_change=exc.index
        )
    except OSError as exc:
        # Validation passed but the disk said no (permissions, disk full): say which file.
        reason = f"{exc.filename or 'workspace'}: {exc.strerror or exc}"
        log.warning("edit %r failed on disk: %s", params.label, reason)
        return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason=reason)
    return lsp.ApplyWorkspaceEditResult(applied=True)


def apply_workspace_edit(edit: lsp.WorkspaceEdit, root: Path) -> None:
    """Validate every change of ``edit``, then write them to disk in order.

    Raises :class:`EditRefused` (nothing written) when a change cannot be applied.
    """
    plan = _Plan(root.resolve())
    if edit.document_changes is not None:
        for index, change in enumerate(edit.document_changes):
            plan.add(change, index)
    elif edit.changes:
        for index, (uri, edits) in enumerate(edit.changes.items()):
            plan.edit_text(plan.path(uri, index), edits, index)
    plan.commit()


def apply_text_edits(text: str, edits: Sequence[TextEditLike]) -> str:
    """Apply LSP text edits (UTF-16 positions, relative to ``text``) and return the result.

    Edits must not overlap; inserts at the same position keep their array order.
    Positions past the end of a line or of the text are clamped, as LSP prescribes.
    """
    index = _LineIndex(text)
    spans: list[tuple[int, int, int, str]] = []
    for order, edit in enumerate(edits):
        start = index.offset(edit.range.start)
        end = index.offset(edit.range.end)
        if end < start:
            raise ValueError(f"edit {order} has its end before its start")
        if isinstance(edit, lsp.SnippetTextEdit):
            # Not advertised (snippetEditSupport): a snippet has no plain-text meaning here.
            raise ValueError(f"edit {order} is a snippet edit, which this client does not apply")
        spans.append((start, end, order, edit.new_text))
    spans.sort(key=lambda span: (span[0], span[2]))
    pieces: list[str] = []
    cursor = 0
    for start, end, order, new_text in spans:
        if start < cursor:
            raise ValueError(f"edit {order} overlaps another edit")
        pieces.append(text[cursor:start])
        pieces.append(new_text)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


class _LineIndex:
    """Line starts of a text, found in one pass, to turn positions into offsets."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts = [0]
        self._ends: list[int] = []
        for match in _LINE_BREAK.finditer(text):
            self._ends.append(match.start())
            self._starts.append(match.end())
        self._ends.append(len(text))

    def offset(self, position: lsp.Position) -> int:
        if position.line >= len(self._starts):
            return len(self._text)
        start, end = self._starts[position.line], self._ends[position.line]
        if position.character == 0:
            return start
        units = 0
        for offset in range(start, end):
            if units >= position.character:
                return offset
            units += 2 if ord(self._text[offset]) > 0xFFFF else 1
        return end


@dataclass(frozen=True, slots=True)
class _Write:
    path: Path
    text: str


@dataclass(frozen=True, slots=True)
class _Move:
    path: Path
    new_path: Path
    overwrite: bool


@dataclass(frozen=True, slots=True)
class _Remove:
    path: Path
    recursive: bool


class _Plan:
    """The changes of one workspace edit, checked against a view of the files."""

    def __init__(self, root: Path) -> None:
        self._root = root
        # Files the edit already changed: their text, or None once deleted/moved away.
        self._files: dict[Path, str | None] = {}
        self._ops: list[_Write | _Move | _Remove] = []

    def path(self, uri: str, index: int) -> Path:
        fs_path = to_fs_path(uri) if uri.startswith("file:") else None
        if not fs_path:
            raise EditRefused(f"{uri}: not a file URI", index)
        path = Path(os.path.abspath(fs_path))
        try:
            inside = path.resolve().is_relative_to(self._root)
        except OSError as exc:
            raise EditRefused(f"{path}: {exc.strerror or exc}", index) from exc
        if not inside:
            raise EditRefused(f"{path}: outside the workspace folder {self._root}", index)
        return path

    def add(
        self,
        change: lsp.TextDocumentEdit | lsp.CreateFile | lsp.RenameFile | lsp.DeleteFile,
        index: int,
    ) -> None:
        if isinstance(change, lsp.TextDocumentEdit):
            self.edit_text(self.path(change.text_document.uri, index), change.edits, index)
        elif isinstance(change, lsp.CreateFile):
            self._create(self.path(change.uri, index), change.options, index)
        elif isinstance(change, lsp.RenameFile):
            old, new = self.path(change.old_uri, index), self.path(change.new_uri, index)
            self._rename(old, new, change.options, index)
        else:
            self._delete(self.path(change.uri, index), change.options, index)

    def edit_text(self, path: Path, edits: Sequence[TextEditLike], index: int) -> None:
        try:
            text = apply_text_edits(self._read(path, index), edits)
        except ValueError as exc:
            raise EditRefused(f"{path}: {exc}", index) from exc
        self._write(path, text)

    def commit(self) -> None:
        for op in self._ops:
            if isinstance(op, _Write):
                _atomic_write(op.path, op.text)
            elif isinstance(op, _Move):
                op.new_path.parent.mkdir(parents=True, exist_ok=True)
                if op.overwrite and op.new_path.is_dir() and not op.new_path.is_symlink():
                    shutil.rmtree(op.new_path)
                os.replace(op.path, op.new_path)
            elif op.path.is_dir() and not op.path.is_symlink():
                if op.recursive:
                    shutil.rmtree(op.path)
                else:
                    op.path.rmdir()
            else:
                op.path.unlink()

    def _exists(self, path: Path) -> bool:
        if path in self._files:
            return self._files[path] is not None
        return path.exists() or path.is_symlink()

    def _read(self, path: Path, index: int) -> str:
        if path in self._files:
            text = self._files[path]
            if text is None:
                raise EditRefused(f"{path}: no such file (removed earlier in this edit)", index)
            return text
        try:
            return path.read_bytes().decode("utf-8")
        except FileNotFoundError as exc:
            raise EditRefused(f"{path}: no such file", index) from exc
        except IsADirectoryError as exc:
            raise EditRefused(f"{path}: is a directory", index) from exc
        except UnicodeDecodeError as exc:
            raise EditRefused(f"{path}: not UTF-8 text ({exc.reason})", index) from exc
        except OSError as exc:
            raise EditRefused(f"{path}: {exc.strerror or exc}", index) from exc

    def _write(self, path: Path, text: str) -> None:
        self._files[path] = text
        self._ops.append(_Write(path, text))

    def _create(self, path: Path, options: lsp.CreateFileOptions | None, index: int) -> None:
        if self._exists(path):
            if options and options.overwrite:
                self._write(path, "")
                return
            if options and options.ignore_if_exists:
                return
            raise EditRefused(f"{path}: already exists", index)
        self._write(path, "")

    def _rename(
        self, old: Path, new: Path, options: lsp.RenameFileOptions | None, index: int
    ) -> None:
        if not self._exists(old):
            raise EditRefused(f"{old}: no such file to rename", index)
        overwrite = bool(options and options.overwrite)
        if self._exists(new) and old != new:
            if options and options.ignore_if_exists and not overwrite:
                return
            if not overwrite:
                raise EditRefused(f"{new}: already exists", index)
        if old in self._files:
            self._files[new] = self._files[old]
        else:
            self._forget_under(new)
        self._files[old] = None
        self._ops.append(_Move(old, new, overwrite))

    def _delete(self, path: Path, options: lsp.DeleteFileOptions | None, index: int) -> None:
        if not self._exists(path):
            if options and options.ignore_if_not_exists:
                return
            raise EditRefused(f"{path}: no such file to delete", index)
        recursive = bool(options and options.recursive)
        if path.is_dir() and not path.is_symlink() and not recursive and any(path.iterdir()):
            raise EditRefused(f"{path}: directory not empty (recursive not set)", index)
        self._forget_under(path)
        self._files[path] = None
        self._ops.append(_Remove(path, recursive))

    def _forget_under(self, path: Path) -> None:
        for known in list(self._files):
            if known.is_relative_to(path):
                del self._files[known]


def _atomic_write(path: Path, text: str) -> None:
    """Write UTF-8 text so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
