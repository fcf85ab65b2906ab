"""AcpWorkspace: the host's EditorWorkspace over ACP's ``fs/*`` methods.

A client that offers ``fs.readTextFile`` answers reads with its buffer (unsaved
changes included); one that offers ``fs.writeTextFile`` applies edits in its buffers
(Zed shows them for review). Without them the workspace is the disk, as for any
process. ACP's ``fs`` has no delete or rename, so those always go to disk (then
``edits.fallbackToDisk`` decides, as for LSP editors). ACP lines are 1-based; the
workspace reads whole files, so no line numbers cross here.

The ``fs`` methods need the session's id, which the workspace (shared by the
sessions of one folder) learns from :data:`current_session`: the prompt handler sets
it, and the turn's tasks inherit it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_lsp.config import EditSettings
from nexus_lsp.host.editor import EditorAnswer, EditorWorkspace
from nexus_lsp.skills.workspace import FileChange, WriteText

if TYPE_CHECKING:
    from acp import Client

__all__ = ["AcpWorkspace", "current_session"]

log = logging.getLogger(__name__)

current_session: ContextVar[str | None] = ContextVar("acp_session", default=None)


class AcpWorkspace(EditorWorkspace):
    def __init__(
        self,
        root: Path,
        edit_settings: Callable[[], EditSettings],
        client: Client,
        *,
        can_read: bool,
        can_write: bool,
    ) -> None:
        super().__init__(root, edit_settings)
        self._client = client
        self.can_read = can_read
        self.can_write = can_write

    def buffer_text(self, path: Path) -> str | None:
        return None  # ACP has no synchronous view of buffers; read_text asks the client

    async def read_text(self, path: Path) -> str:
        session_id = current_session.get()
        if self.can_read and session_id is not None:
            try:
                answer = await self._client.read_text_file(path=str(path), session_id=session_id)
            except Exception as exc:  # the disk read below names a missing file properly
                log.info("fs/read_text_file %s failed (%s); reading the disk", path, exc)
            else:
                return answer.content
        return await super().read_text(path)

    def cannot_apply(self, change: FileChange) -> str | None:
        if not isinstance(change, WriteText):
            return "ACP has no file delete or rename"
        if not self.can_write:
            return "the ACP client does not offer fs/write_text_file"
        if current_session.get() is None:
            return "no ACP session is running this edit"
        return None

    def send_to_editor(
        self, change: FileChange, label: str, *, confirm: bool
    ) -> Awaitable[EditorAnswer]:
        assert isinstance(change, WriteText)  # cannot_apply sent the others to disk
        session_id = current_session.get()
        assert session_id is not None
        write = self._client.write_text_file(
            content=change.content, path=str(change.path), session_id=session_id
        )
        return asyncio.ensure_future(_applied(write))


async def _applied(write: Awaitable[object]) -> EditorAnswer:
    await write  # an error answer raises: the host reports it as the tool's failure
    return EditorAnswer(applied=True)
