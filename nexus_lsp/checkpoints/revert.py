"""Reverting the code of turns: the journal undone, newest change first.

:func:`plan_revert` walks the journaled changes of the reverted turns from the
newest back, on a virtual copy of the files they touched (read from the editor's
buffers, else the disk), and yields the changes that bring each file back to its
text before the turns:

- a file the agent wrote is restored: three-way (``merge.py``) when the user
  changed it since, so hunks that overlap the user's edits stay the user's and are
  listed as conflicts;
- a file the agent created is deleted, one it deleted re-created, a rename undone;
- a file that is not UTF-8 text now (or was not before) is never touched: it is
  listed in ``notRestored`` with the reason.

The changes are then applied together (``apply_all``: ONE ``workspace/applyEdit``
in an editor, so one undo step there; the disk otherwise).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nexus_lsp.checkpoints.journal import JournalEntry, text_hash
from nexus_lsp.checkpoints.merge import revert_text
from nexus_lsp.checkpoints.scan import read_blob
from nexus_lsp.core.threads import run_in_thread
from nexus_lsp.errors import ToolError
from nexus_lsp.skills.disk import minimal_replacement
from nexus_lsp.skills.workspace import DeleteFile, FileChange, RenameFile, WriteText

__all__ = ["FileOutcome", "Problem", "RevertPlan", "RevertWorkspace", "plan_revert"]


class RevertWorkspace(Protocol):
    root: Path

    def resolve(self, path: str, *, for_write: bool = False) -> Path: ...

    def relative(self, path: Path) -> str: ...

    async def read_text(self, path: Path) -> str: ...

    async def apply_all(self, changes: Sequence[FileChange], label: str) -> None: ...


@dataclass(frozen=True, slots=True)
class FileOutcome:
    path: str
    action: str  # restored | deleted | recreated | unchanged


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    reason: str


@dataclass
class RevertPlan:
    changes: list[FileChange] = field(default_factory=list)
    files: list[FileOutcome] = field(default_factory=list)
    conflicts: list[Problem] = field(default_factory=list)
    not_restored: list[Problem] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)


class _Unreadable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


State = str | None | _Unreadable  # text, absent, or not text we may touch


class _Files:
    """The virtual state of the touched files, and the changes that reach it."""

    def __init__(self, workspace: RevertWorkspace) -> None:
        self.ws = workspace
        self.first: dict[str, State] = {}
        self.now: dict[str, State] = {}
        self.ops: list[FileChange] = []
        self.renamed_back: set[str] = set()

    async def get(self, rel: str) -> State:
        if rel not in self.now:
            state = await self._read(rel)
            self.first[rel] = self.now[rel] = state
        return self.now[rel]

    async def _read(self, rel: str) -> State:
        try:
            path = self.ws.resolve(rel, for_write=True)
        except ToolError as exc:
            return _Unreadable(str(exc))
        buffer = getattr(self.ws, "buffer_text", None)
        exists = await run_in_thread(os.path.lexists, path)
        if not exists and (buffer is None or buffer(path) is None):
            return None
        try:
            return await self.ws.read_text(path)
        except ToolError as exc:
            return _Unreadable(f"{exc.detail}; nexus restores text files only")

    def path(self, rel: str) -> Path:
        return self.ws.resolve(rel, for_write=True)

    def write(self, rel: str, old: str | None, new: str | None) -> None:
        if old == new:
            return
        path = self.path(rel)
        if new is None:
            self.ops.append(DeleteFile(path))
        elif old is None:
            self.ops.append(WriteText(path, None, new, ()))
        else:
            self.ops.append(WriteText(path, old, new, minimal_replacement(old, new)))
        self.now[rel] = new

    def rename(self, rel: str, to: str) -> None:
        self.ops.append(RenameFile(self.path(rel), self.path(to)))
        self.now[to] = self.now[rel]
        self.now[rel] = None
        self.renamed_back.add(to)


async def plan_revert(workspace: RevertWorkspace, entries: Sequence[JournalEntry]) -> RevertPlan:
    """What reverting ``entries`` (oldest first, as journaled) does to the workspace."""
    files = _Files(workspace)
    plan = RevertPlan(entry_ids=[e.id for e in entries])
    conflicts: dict[str, list[str]] = {}
    refused: dict[str, str] = {}
    for entry in reversed(entries):
        await _undo(files, entry, conflicts, refused)
    plan.changes = _coalesce(files.ops)
    for rel in sorted(files.first):
        if rel in refused:
            plan.not_restored.append(Problem(rel, refused[rel]))
            continue
        plan.files.append(FileOutcome(rel, _action(files, rel)))
    plan.conflicts = [Problem(rel, "; ".join(r)) for rel, r in sorted(conflicts.items())]
    return plan


async def _undo(files: _Files, entry: JournalEntry, conflicts: dict[str, list[str]],
                refused: dict[str, str]) -> None:
    rel = entry.path
    if rel in refused or (entry.new_path is not None and entry.new_path in refused):
        return
    current = await files.get(rel)
    if isinstance(current, _Unreadable):
        refused[rel] = current.reason
        return
    if entry.kind == "write":
        before = _text(entry.before) if entry.existed else None
        if isinstance(before, _Unreadable):
            refused[rel] = before.reason
            return
        after = _text(entry.after)
        after = None if isinstance(after, _Unreadable) else after
        if current is None:
            if entry.existed:
                conflicts.setdefault(rel, []).append(
                    "deleted since the turn changed it; left deleted")
            return
        if current == after or (before is not None and current == before):
            files.write(rel, current, before)
            return
        if before is None or after is None:
            conflicts.setdefault(rel, []).append(
                "created by the turn and changed since; left as it is")
            return
        merged = revert_text(after, current, before)
        if merged.conflicts:
            conflicts.setdefault(rel, []).append(
                f"{merged.conflicts} hunk(s) overlap changes made after the turn; "
                "those are left as they are")
        files.write(rel, current, merged.text)
    elif entry.kind == "delete":
        before = _text(entry.before)
        if isinstance(before, _Unreadable) or before is None:
            refused[rel] = before.reason if isinstance(before, _Unreadable) else (
                "its text before the turn was not kept")
            return
        if current is not None:
            conflicts.setdefault(rel, []).append(
                "created again since the turn deleted it; left as it is")
            return
        files.write(rel, None, before)
    elif entry.kind == "command":
        await _undo_command(files, entry, current, conflicts, refused)
    elif entry.kind == "rename" and entry.new_path is not None:
        moved = await files.get(entry.new_path)
        if isinstance(moved, _Unreadable):
            refused[entry.new_path] = moved.reason
            return
        if moved is None or current is not None:
            conflicts.setdefault(rel, []).append(
                f"renamed to {entry.new_path} by the turn, and changed since; not renamed back")
            return
        files.rename(entry.new_path, rel)


async def _undo_command(files: _Files, entry: JournalEntry, current: str | None,
                        conflicts: dict[str, list[str]], refused: dict[str, str]) -> None:
    """A file ``run_command`` changed: its pre-image is a git blob of the snapshot."""
    rel = entry.path
    now_hash = None if current is None else text_hash(current)
    if now_hash != entry.after_hash:
        conflicts.setdefault(rel, []).append(
            "changed again after the command changed it; left as it is")
        return
    if not entry.existed:
        files.write(rel, current, None)  # the command created it
        return
    if entry.git_object is None:
        refused[rel] = ("changed by run_command outside a git repository: nexus keeps no "
                        "copy of it, so it is not restored")
        return
    data = await run_in_thread(read_blob, files.ws.root, entry.git_object)
    if data is None:
        refused[rel] = (f"its state before the command (git object {entry.git_object[:12]}) "
                        "is no longer in the repository")
        return
    before = _text(data)
    if isinstance(before, _Unreadable):
        refused[rel] = before.reason
        return
    files.write(rel, current, before)


def _text(data: bytes | None) -> str | None | _Unreadable:
    if data is None:
        return None
    if b"\x00" in data[:8192]:
        return _Unreadable("a binary file; nexus restores text files only")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Unreadable(f"not valid UTF-8 (first bad byte at offset {exc.start:,}); "
                           "nexus restores text files only")


def _action(files: _Files, rel: str) -> str:
    first, last = files.first[rel], files.now[rel]
    if first == last:
        return "unchanged"
    if last is None:
        return "deleted"
    if first is None:
        return "restored" if rel in files.renamed_back else "recreated"
    return "restored"


def _coalesce(ops: list[FileChange]) -> list[FileChange]:
    """Consecutive writes of one file as one change (one text edit in the editor)."""
    out: list[FileChange] = []
    last_write: dict[Path, int] = {}
    for op in ops:
        if isinstance(op, WriteText) and op.path in last_write:
            prev = out[last_write[op.path]]
            assert isinstance(prev, WriteText)
            original = prev.original
            if original is None:
                merged = WriteText(op.path, None, op.content, ())
            else:
                merged = WriteText(op.path, original, op.content,
                                   minimal_replacement(original, op.content))
            out[last_write[op.path]] = merged
            continue
        for path in _paths(op):
            last_write.pop(path, None)
        if isinstance(op, WriteText):
            last_write[op.path] = len(out)
        out.append(op)
    return [op for op in out if not _noop(op)]


def _paths(op: FileChange) -> tuple[Path, ...]:
    return (op.path, op.new_path) if isinstance(op, RenameFile) else (op.path,)


def _noop(op: FileChange) -> bool:
    return isinstance(op, WriteText) and op.original is not None and op.original == op.content
