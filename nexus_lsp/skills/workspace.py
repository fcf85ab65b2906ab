"""The Workspace protocol: what file skills may do, and the edits they ask for.

Skills never touch the disk or the editor directly. The LSP layer implements this
protocol with open buffers and ``workspace/applyEdit``; :class:`DiskWorkspace`
(``skills/disk.py``) serves headless use and tests. Paths given to skills are
resolved and confined by :meth:`Workspace.resolve` before anything is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from nexus_lsp.core.cancel import CancellationToken

__all__ = [
    "DeleteFile",
    "DirEntry",
    "FileChange",
    "RenameFile",
    "TextReplacement",
    "Workspace",
    "WriteText",
]


@dataclass(frozen=True, slots=True)
class TextReplacement:
    """Replace ``original[start:end]`` (code-point offsets) with ``text``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class WriteText:
    """Create a file (``original is None``) or change one.

    ``replacements`` are minimal, sorted, non-overlapping and relative to
    ``original`` (the text the skill read, open buffer included), so an editor can
    apply them as small text edits and keep cursors, marks and undo. ``content`` is
    the whole new text, for implementations that write files.
    """

    path: Path
    original: str | None
    content: str
    replacements: tuple[TextReplacement, ...]


@dataclass(frozen=True, slots=True)
class DeleteFile:
    path: Path


@dataclass(frozen=True, slots=True)
class RenameFile:
    path: Path
    new_path: Path


FileChange = WriteText | DeleteFile | RenameFile


@dataclass(frozen=True, slots=True)
class DirEntry:
    name: str
    is_dir: bool


@runtime_checkable
class Workspace(Protocol):
    """Where file skills read and write. All paths are absolute, resolved paths."""

    root: Path

    def resolve(self, path: str, *, for_write: bool = False) -> Path:
        """Resolve a workspace-relative or absolute path, confined to the workspace.

        Raises :class:`~nexus_lsp.errors.PathRefused` for paths leading out (``..``,
        absolute paths elsewhere, symlinks out) and, when ``for_write``, under
        ``.git/`` or ``.nexus/``.
        """
        ...

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, with forward slashes."""
        ...

    async def read_text(self, path: Path) -> str:
        """The text of the open buffer if the editor has one, else of the file.

        Raises ToolError for missing, binary or undecodable files.
        """
        ...

    async def list_directory(self, path: Path) -> list[DirEntry]: ...

    def files(self, path: Path) -> list[Path]:
        """Every file under ``path`` (skipping .git/, .nexus/ and ignored folders)."""
        ...

    def text_for_search(self, path: Path, max_bytes: int) -> str | None:
        """The file's text on disk for a search, None when a search skips it. Blocking:
        for the Python search, which runs off the event loop."""
        ...

    def held_texts(self) -> dict[Path, str]:
        """Texts the editor holds that may differ from the disk (open buffers, edits
        not saved yet), by resolved path: searches read these, not the files."""
        ...

    async def apply(self, change: FileChange, label: str, cancel_token: CancellationToken) -> None:
        """Apply a change (via the editor when there is one).

        Raises :class:`~nexus_lsp.errors.EditRejected` when the editor refuses, and
        :class:`~nexus_lsp.core.cancel.Cancelled` when the token is cancelled before
        the editor answered (an answer arriving later is logged, never counted).
        """
        ...
