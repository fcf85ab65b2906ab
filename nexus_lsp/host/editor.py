"""EditorWorkspace: the skills' :class:`~nexus_lsp.skills.workspace.Workspace` in an editor.

Paths, confinement, listings and disk reads come from
:class:`~nexus_lsp.skills.disk.DiskWorkspace`. On top of it, for every front door:

- ``read_text`` returns the editor's open buffer (unsaved changes included);
- ``apply`` hands each change to the editor (:meth:`EditorWorkspace.send_to_editor`,
  which a door implements with its protocol: LSP's ``workspace/applyEdit``) and races
  the editor's answer against the turn's cancellation: an answer arriving after a
  cancel is logged and never counted as applied;
- an editor that cannot apply a change (:meth:`EditorWorkspace.cannot_apply`) gets it
  written to disk atomically when ``edits.fallbackToDisk`` is set, and a tool error
  saying so otherwise.

Editors apply edits to files that are not open in buffers they do not save (Neovim
always, VS Code for background documents). Until the editor reports on such a file
(:meth:`EditorWorkspace.document_event`: opened, saved, closed), its edited text is
kept here so the next read sees what the editor holds, not the stale disk file the
next edit's offsets would miss.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from nexus_lsp.config import EditSettings
from nexus_lsp.core.cancel import CancellationToken, Cancelled, race
from nexus_lsp.core.threads import run_in_thread
from nexus_lsp.errors import EditRejected, ToolError
from nexus_lsp.permissions.gate import EDITS_MAY_CONFIRM
from nexus_lsp.skills.disk import DiskWorkspace
from nexus_lsp.skills.workspace import DeleteFile, FileChange, RenameFile, WriteText

__all__ = ["EditorAnswer", "EditorWorkspace"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EditorAnswer:
    """The editor's answer to a change: applied, or refused with its reason."""

    applied: bool
    failure_reason: str | None = None


class EditorWorkspace(DiskWorkspace, ABC):
    """Open buffers and editor-applied edits over a :class:`DiskWorkspace`.

    A front door implements :meth:`buffer_text`, :meth:`cannot_apply` and
    :meth:`send_to_editor`; everything else is shared.
    """

    def __init__(self, root: Path, edit_settings: Callable[[], EditSettings]) -> None:
        super().__init__(root)
        self._edit_settings = edit_settings
        self._edited: dict[Path, str] = {}  # texts the editor holds for unopened files

    # what a front door implements ------------------------------------------------

    @abstractmethod
    def buffer_text(self, path: Path) -> str | None:
        """The text of the editor's open buffer for ``path`` (resolved), if open."""

    @abstractmethod
    def cannot_apply(self, change: FileChange) -> str | None:
        """Why the editor cannot apply ``change`` (then the disk fallback decides)."""

    @abstractmethod
    def send_to_editor(
        self, change: FileChange, label: str, *, confirm: bool
    ) -> Awaitable[EditorAnswer]:
        """Send ``change`` to the editor; the awaitable is its answer.

        Raises :class:`~nexus_lsp.errors.ToolError` for a change it cannot express.
        The request must be under way when this returns: a cancel stops the wait,
        not the request, and a late answer is still read (:meth:`_late_answer`).
        """

    async def send_all_to_editor(
        self, changes: Sequence[FileChange], label: str
    ) -> EditorAnswer:
        """Send several changes as one edit (one undo step); a door that can, overrides
        this. The default sends them one by one and stops at the first refused."""
        confirm = self._edit_settings().confirm
        for change in changes:
            answer = await self.send_to_editor(change, label, confirm=confirm)
            if not answer.applied:
                return answer
            self._remember(change)
        return EditorAnswer(True)

    # shared ------------------------------------------------------------------------

    async def apply_all(self, changes: Sequence[FileChange], label: str) -> None:
        """Apply ``changes`` together (a revert), through the editor when it can.

        Without the editor, on disk if ``edits.fallbackToDisk`` allows, and never over
        a buffer with unsaved changes (protocol v2 §7): such a file refuses the whole
        edit before anything is written.
        """
        problems = [p for p in map(self.cannot_apply, changes) if p is not None]
        if problems:
            if not self._edit_settings().fallback_to_disk:
                raise ToolError("failed", f"{problems[0]}, and edits.fallbackToDisk is off")
            await run_in_thread(self._check_saved, list(changes))
            log.info("%s: %s; writing to disk", label, problems[0])
            await run_in_thread(self.apply_all_to_disk, list(changes))
            for change in changes:
                self._edited.pop(change.path, None)
            return
        try:
            answer = await self.send_all_to_editor(changes, label)
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError("failed", f"the editor answered the edit with: {exc}") from exc
        if not answer.applied:
            raise EditRejected(answer.failure_reason or "")
        for change in changes:
            self._remember(change)

    def _check_saved(self, changes: list[FileChange]) -> None:
        for change in changes:
            buffer = self.buffer_text(change.path)
            if buffer is None:
                continue
            try:
                saved = change.path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                saved = None
            if saved != buffer:
                raise ToolError(
                    "failed",
                    f"{self.relative(change.path)} has unsaved changes in the editor and the "
                    "editor can't apply edits; save it first",
                )

    async def read_text(self, path: Path) -> str:
        text = self.buffer_text(path)
        if text is not None:
            return text
        if path in self._edited:
            return self._edited[path]
        return await super().read_text(path)

    def open_buffers(self) -> dict[Path, str]:
        """Every open buffer's text by resolved path (none unless the door knows them)."""
        return {}

    def held_texts(self) -> dict[Path, str]:
        return {**self._edited, **self.open_buffers()}

    def document_event(self, path: Path) -> None:
        """The editor opened, saved or closed ``path``: its own state is current again."""
        self._edited.pop(path, None)

    async def apply(self, change: FileChange, label: str, cancel_token: CancellationToken) -> None:
        cancel_token.raise_if_cancelled()
        settings = self._edit_settings()
        problem = self.cannot_apply(change)
        if problem is not None:
            if not settings.fallback_to_disk:
                raise ToolError("failed", f"{problem}, and edits.fallbackToDisk is off")
            await self._refuse_unsaved(change)
            log.info("%s: %s; writing to disk", label, problem)
            await run_in_thread(self.apply_to_disk, change, cancel_token)
            return
        self._check_unchanged(change)
        # edits.confirm only in `default` mode: acceptEdits never asks, strict asked already
        confirm = settings.confirm and EDITS_MAY_CONFIRM.get()
        answer = asyncio.ensure_future(self.send_to_editor(change, label, confirm=confirm))
        try:
            # shield: a cancel must stop waiting, not the bookkeeping of the answer
            result = await race(asyncio.shield(answer), cancel_token)
        except (Cancelled, asyncio.CancelledError):
            # The turn's token, or the tool's task (a batch interrupts running tools).
            answer.add_done_callback(partial(self._late_answer, change, label))
            raise
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError("failed", f"the editor answered the edit with: {exc}") from exc
        if not result.applied:
            raise EditRejected(result.failure_reason or "")
        self._remember(change)

    async def _refuse_unsaved(self, change: FileChange) -> None:
        """Refuse a disk write to a file whose open buffer has unsaved changes.

        The change was made against the buffer's text: written to disk it would save
        the user's unsaved text with it behind their back (Vim + ALE has no applyEdit).
        """
        paths = [change.path, *([change.new_path] if isinstance(change, RenameFile) else [])]
        for path in paths:
            buffer = self.buffer_text(path)
            if buffer is None:
                continue
            on_disk = await asyncio.to_thread(_disk_text, path)
            if _same_text(buffer, on_disk or ""):  # no file: an empty buffer is no change
                continue
            raise ToolError(
                "failed",
                f"{self.relative(path)} has unsaved changes in the editor and the editor "
                "can't apply edits; save it first",
            )

    def _check_unchanged(self, change: FileChange) -> None:
        """Refuse an edit prepared against text the editor no longer holds."""
        if not isinstance(change, WriteText) or change.original is None:
            return
        current = self.buffer_text(change.path)
        if current is None:
            current = self._edited.get(change.path)
        if current is not None and current != change.original:
            raise ToolError(
                "failed",
                f"{self.relative(change.path)} changed in the editor while the edit was "
                "prepared; read it again",
            )

    def _late_answer(self, change: FileChange, label: str, answer: asyncio.Future[Any]) -> None:
        if answer.cancelled():
            return
        exc = answer.exception()
        if exc is not None:
            log.info("%s: the editor answered after the cancel with an error: %s", label, exc)
            return
        applied = bool(getattr(answer.result(), "applied", False))
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
            if self.buffer_text(change.path) is None:
                self._edited[change.path] = change.content
        elif isinstance(change, DeleteFile):
            self._edited.pop(change.path, None)
        elif isinstance(change, RenameFile) and change.path in self._edited:
            self._edited[change.new_path] = self._edited.pop(change.path)


def _disk_text(path: Path) -> str | None:
    """The file's text as stored (None when it does not exist)."""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError:
        return ""  # unreadable: count it as different, never overwrite on a guess


def _same_text(buffer: str, disk: str) -> bool:
    """Equal but for line endings and a final newline: editors send buffers with
    ``\n`` and one closing newline (Vim + ALE whatever the file holds)."""

    def norm(text: str) -> str:
        text = text.replace("\r\n", "\n")
        return text[:-1] if text.endswith("\n") else text

    return norm(buffer) == norm(disk)
