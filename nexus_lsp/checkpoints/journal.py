"""The checkpoint journal: every change a tool makes, written before it is made.

One row per change in ``nexus.db`` (table ``checkpoints``): the session and turn, the
workspace-relative path, whether the file existed, its text before and after
(zlib-compressed UTF-8) and a hash of the text after. The row is committed BEFORE
the change is handed to the editor or the disk, so a crash right after the change
(kill -9) still leaves what is needed to revert it. A change the editor or the
disk refused is taken out of the journal again; a cancelled one stays (the
editor may still apply it, and reverting a change that never happened is a no-op:
its "before" is what the file holds).

:class:`JournaledWorkspace` is the one hook: the session manager gives each
session's tools the workspace wrapped in it, so every door (LSP, ACP, the headless
client) journals the same way. The text after is kept, not only its hash: it is
the base of the three-way merge that lets a revert keep the user's later edits.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.threads import run_in_thread
from nexus_lsp.errors import ToolError
from nexus_lsp.skills.workspace import (
    DeleteFile,
    DirEntry,
    FileChange,
    RenameFile,
    Workspace,
    WriteText,
)
from nexus_lsp.wire import NEXUS_DIR

if TYPE_CHECKING:
    import aiosqlite

    from nexus_lsp.checkpoints.scan import CommandChange, Snapshot
    from nexus_lsp.storage import SessionStore

__all__ = ["Journal", "JournalEntry", "JournaledWorkspace", "compress", "decompress", "text_hash"]

log = logging.getLogger(__name__)

COLUMNS = "id, turn, kind, path, new_path, existed, before, after_hash, after, git_object"
INSERT = (
    "INSERT INTO checkpoints (session_id, turn, kind, path, new_path, existed, before,"
    " after_hash, after, git_object, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def compress(data: bytes | str | None) -> bytes | None:
    if data is None:
        return None
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return zlib.compress(raw, 1)  # level 1: the journal sits on the edit's path


def decompress(blob: bytes | None) -> bytes | None:
    return None if blob is None else zlib.decompress(blob)


def text_hash(text: str | bytes) -> str:
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journaled change. ``before``/``after`` are raw bytes (UTF-8 for texts)."""

    id: int
    turn: int
    kind: str  # write | delete | rename | command
    path: str
    new_path: str | None
    existed: bool
    before: bytes | None
    after_hash: str | None
    after: bytes | None
    git_object: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> JournalEntry:
        return cls(int(row[0]), int(row[1]), str(row[2]), str(row[3]),
                   None if row[4] is None else str(row[4]), bool(row[5]),
                   decompress(row[6]), row[7], decompress(row[8]),
                   None if row[9] is None else str(row[9]))


class Journal:
    """The ``checkpoints`` table of one store."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    async def add(self, session_id: str, turn: int, kind: str, path: str, *,
                  new_path: str | None = None, existed: bool,
                  before: bytes | str | None = None, after: str | None = None,
                  after_hash: str | None = None, git_object: str | None = None) -> int:
        """Journal one change (committed when this returns); its row id."""
        from nexus_lsp.storage.records import now, to_db_time

        if after is not None:
            after_hash = text_hash(after)
        row = (session_id, turn, kind, path, new_path, int(existed), compress(before),
               after_hash, compress(after), git_object, to_db_time(now()))
        entry_id = 0

        async def insert(db: aiosqlite.Connection) -> None:
            nonlocal entry_id
            async with db.execute(INSERT, row) as cursor:
                entry_id = int(cursor.lastrowid or 0)

        await self.store.write(insert)
        return entry_id

    async def discard(self, entry_id: int) -> None:
        """Take out a change that was not made."""
        async def delete(db: aiosqlite.Connection) -> None:
            await db.execute("DELETE FROM checkpoints WHERE id = ?", (entry_id,))

        await self.store.write(delete)

    async def entries(self, session_id: str, from_turn: int) -> list[JournalEntry]:
        """The changes of turn ``from_turn`` and later not reverted yet, oldest first."""
        rows = await self.store.read(
            f"SELECT {COLUMNS} FROM checkpoints WHERE session_id = ? AND turn >= ?"
            " AND reverted = 0 ORDER BY id", (session_id, from_turn))
        return [JournalEntry.from_row(r) for r in rows]

    async def mark_reverted(self, ids: list[int]) -> None:
        async def update(db: aiosqlite.Connection) -> None:
            await db.executemany("UPDATE checkpoints SET reverted = 1 WHERE id = ?",
                                 [(i,) for i in ids])

        if ids:
            await self.store.write(update)


class JournaledWorkspace:
    """A session's view of the workspace: every ``apply`` journaled first.

    Everything else is the wrapped workspace's (attributes too, so a door's own
    methods stay reachable from tools that need them).
    """

    def __init__(self, inner: Workspace, journal: Journal, session_id: str,
                 turn: Callable[[], int]) -> None:
        self.inner = inner
        self.root = inner.root
        self._journal = journal
        self._session_id = session_id
        self._turn = turn

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def resolve(self, path: str, *, for_write: bool = False) -> Path:
        return self.inner.resolve(path, for_write=for_write)

    def relative(self, path: Path) -> str:
        return self.inner.relative(path)

    async def read_text(self, path: Path) -> str:
        return await self.inner.read_text(path)

    async def list_directory(self, path: Path) -> list[DirEntry]:
        return await self.inner.list_directory(path)

    def files(self, path: Path) -> list[Path]:
        return self.inner.files(path)

    @asynccontextmanager
    async def command_checkpoint(self) -> AsyncIterator[None]:
        """Around a ``run_command``: the files it changed are journaled (``scan.py``).

        A scan that fails is logged and the command runs all the same: the
        journal is a safety net, never a reason to refuse the user's command.
        """
        from nexus_lsp.checkpoints.scan import changes_since, take_snapshot

        nexus_dir = self.inner.root / NEXUS_DIR
        try:
            before = await run_in_thread(take_snapshot, self.inner.root, nexus_dir)
        except Exception:
            log.warning("the scan before run_command failed; its changes are not journaled",
                        exc_info=True)
            before = None
        try:
            yield
        finally:
            if before is not None:
                await self._journal_command(before, changes_since)

    async def _journal_command(self, before: Snapshot,
                               changes_since: Callable[[Snapshot], list[CommandChange]]) -> None:
        try:
            changes = await run_in_thread(changes_since, before)
        except Exception:
            log.warning("the scan after run_command failed; its changes are not journaled",
                        exc_info=True)
            return
        turn = self._turn()
        for change in changes:
            await self._journal.add(
                self._session_id, turn, "command", change.path, existed=change.existed,
                after_hash=change.after_hash, git_object=change.blob)

    async def apply(self, change: FileChange, label: str, cancel_token: CancellationToken) -> None:
        cancel_token.raise_if_cancelled()
        entry_id = await self._record(change)
        try:
            await self.inner.apply(change, label, cancel_token)
        except ToolError:  # refused or failed: nothing changed (EditRejected included)
            await self._journal.discard(entry_id)
            raise

    async def _record(self, change: FileChange) -> int:
        rel = self.inner.relative(change.path)
        turn = self._turn()
        if isinstance(change, WriteText):
            return await self._journal.add(
                self._session_id, turn, "write", rel, existed=change.original is not None,
                before=change.original, after=change.content)
        if isinstance(change, DeleteFile):
            return await self._journal.add(
                self._session_id, turn, "delete", rel, existed=True,
                before=await self._pre_image(change.path))
        if isinstance(change, RenameFile):
            return await self._journal.add(
                self._session_id, turn, "rename", rel,
                new_path=self.inner.relative(change.new_path), existed=True)
        raise TypeError(f"not a file change: {change!r}")

    async def _pre_image(self, path: Path) -> bytes | str | None:
        """What a deleted file held: the editor's text, else the bytes on disk."""
        try:
            return await self.inner.read_text(path)
        except ToolError:
            pass  # binary or not UTF-8: keep its bytes (a revert reports, not restores)
        try:
            return await run_in_thread(path.read_bytes)
        except OSError:
            return None
