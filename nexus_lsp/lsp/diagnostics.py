"""The editor's diagnostics over LSP (protocol v2 §4): ``nexus/editor/diagnostics``.

To a client that declared ``clientFeatures.diagnostics`` the server sends
``nexus/editor/diagnostics {"uris": [...]}`` and reads ``{"items": [{"uri",
"diagnostics": Diagnostic[]}]}`` (what the editor's other language servers report;
an empty ``uris`` asks for every file the editor has diagnostics for). This is the
session core's :class:`~nexus_lsp.skills.diagnostics.DiagnosticsSource`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from nexus_lsp import wire
from nexus_lsp.errors import NexusError
from nexus_lsp.lsp.workspace import LspWorkspace, path_to_uri

__all__ = ["LspDiagnosticsSource"]

log = logging.getLogger(__name__)


class LspDiagnosticsSource:
    def __init__(self, server: LanguageServer, workspace: LspWorkspace) -> None:
        self._server = server
        self._workspace = workspace

    async def diagnostics(self, paths: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
        root = self._workspace.root
        uris = [path_to_uri(root / p) for p in paths]
        answer = await self._server.protocol.send_request_async(
            wire.EDITOR_DIAGNOSTICS, {"uris": uris}
        )
        out: dict[str, list[Mapping[str, Any]]] = {p: [] for p in paths}
        items = answer.get("items") if isinstance(answer, Mapping) else None
        if not isinstance(items, list):
            raise NexusError(f"{wire.EDITOR_DIAGNOSTICS}: the answer has no items array")
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("uri"), str):
                continue
            path = self._relative(item["uri"])
            found = item.get("diagnostics")
            if path is None or not isinstance(found, list):
                continue
            out.setdefault(path, []).extend(d for d in found if isinstance(d, Mapping))
        return out

    def _relative(self, uri: str) -> str | None:
        fs_path = to_fs_path(uri) if uri.startswith("file:") else uri
        if not fs_path:
            return None
        try:
            return self._workspace.relative(self._workspace.resolve(str(Path(fs_path))))
        except NexusError:
            return None  # outside the workspace: not ours to report
