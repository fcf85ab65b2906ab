"""End-to-end support: a test editor (pytest-lsp client) for the nexus-lsp server.

The client keeps every ``nexus/session/update`` it receives, and plays an editor for
``workspace/applyEdit``: edits to documents it has open go to its buffers (with a
``didChange`` back to the server, as an editor would send), everything else is
applied to disk. Tests can make it refuse edits or hold its answer.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.uris import from_fs_path, to_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import register_lsp_features

from nexus_lsp import wire
from nexus_lsp.server.converter import dict_converter
from nexus_lsp.server.edits import LineIndex

SERVER_COMMAND = [sys.executable, "-m", "nexus_lsp"]
API_KEY_ENV = "NEXUS_E2E_KEY"
WAIT = 15.0  # upper bound for anything a test waits for; never a timing assertion


def server_env(**extra: str) -> dict[str, str]:
    return {**os.environ, API_KEY_ENV: "e2e-secret-key", **extra}


def uri(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()


class TestEditor(LanguageClient):
    """A pytest-lsp client with the behaviour of an editor (see the module docstring)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self) -> None:
        super().__init__(converter_factory=dict_converter)
        register_lsp_features(self)
        self.updates: list[dict[str, Any]] = []
        self.buffers: dict[str, tuple[int, str]] = {}  # uri → (version, text)
        self.edit_requests: list[types.ApplyWorkspaceEditParams] = []
        self.reject_edits: str | None = None
        self.hold_edits: asyncio.Event | None = None
        self.edit_arrived = asyncio.Event()
        self.encoding: str = types.PositionEncodingKind.Utf16
        self.late_answers = 0
        self._update_arrived = asyncio.Event()

        @self.feature(wire.SESSION_UPDATE)
        def on_update(client: TestEditor, params: dict[str, Any]) -> None:
            client.updates.append(params)
            client._update_arrived.set()

        @self.feature(types.WORKSPACE_APPLY_EDIT)
        async def on_apply_edit(
            client: TestEditor, params: types.ApplyWorkspaceEditParams
        ) -> types.ApplyWorkspaceEditResult:
            return await client.apply_edit(params)

    # requests -------------------------------------------------------------------

    async def request(self, method: str, params: Any, msg_id: int | None = None) -> Any:
        return await asyncio.wait_for(
            self.protocol.send_request_async(method, params, msg_id=msg_id), WAIT
        )

    async def send(self, prompt: str, session_id: str | None = None, **extra: Any) -> Any:
        params: dict[str, Any] = {"prompt": prompt, **extra}
        if session_id is not None:
            params["sessionId"] = session_id
        return await self.request(wire.SESSION_SEND, params)

    async def wait_for_update(self, predicate: Any) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            while True:
                for update in self.updates:
                    if predicate(update):
                        return update
                self._update_arrived.clear()
                await self._update_arrived.wait()

    def turn_updates(self, session_id: str, turn_id: int) -> list[dict[str, Any]]:
        return [u for u in self.updates if u["sessionId"] == session_id and u["turnId"] == turn_id]

    # documents ------------------------------------------------------------------

    def open(self, path: Path, text: str | None = None, language: str = "python") -> str:
        doc_uri = uri(path)
        text = path.read_text(encoding="utf-8") if text is None else text
        self.buffers[doc_uri] = (1, text)
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=doc_uri, language_id=language, version=1, text=text
                )
            )
        )
        return doc_uri

    def type_text(self, doc_uri: str, position: types.Position, text: str) -> None:
        """Insert ``text`` at ``position`` without saving (an incremental didChange)."""
        version, old = self.buffers[doc_uri]
        offset = LineIndex(old).offset(position, self.encoding)
        self.buffers[doc_uri] = (version + 1, old[:offset] + text + old[offset:])
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=doc_uri, version=version + 1
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=position, end=position), text=text
                    )
                ],
            )
        )

    # workspace/applyEdit --------------------------------------------------------

    async def apply_edit(
        self, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        self.edit_requests.append(params)
        self.edit_arrived.set()
        if self.hold_edits is not None:
            await self.hold_edits.wait()
        if self.reject_edits is not None:
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason=self.reject_edits)
        try:
            self._apply(params.edit)
        except (OSError, ValueError) as exc:
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason=str(exc))
        return types.ApplyWorkspaceEditResult(applied=True)

    def _apply(self, edit: types.WorkspaceEdit) -> None:
        for doc_uri, text_edits in (edit.changes or {}).items():
            self._edit_text(doc_uri, None, text_edits)
        for op in edit.document_changes or ():
            if isinstance(op, types.TextDocumentEdit):
                self._edit_text(op.text_document.uri, op.text_document.version, op.edits)
            elif isinstance(op, types.CreateFile):
                path = _path(op.uri)
                if path.exists():
                    raise ValueError(f"{path.name} exists")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("", encoding="utf-8")
            elif isinstance(op, types.RenameFile):
                _path(op.old_uri).rename(_path(op.new_uri))
            elif isinstance(op, types.DeleteFile):
                _path(op.uri).unlink()

    def _edit_text(self, doc_uri: str, version: int | None, edits: Any) -> None:
        if doc_uri in self.buffers:
            current, text = self.buffers[doc_uri]
            if version is not None and version != current:
                raise ValueError(f"version {version} is not the buffer's {current}")
            text = _apply_text_edits(text, edits, self.encoding)
            self.buffers[doc_uri] = (current + 1, text)
            self.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(
                        uri=doc_uri, version=current + 1
                    ),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                )
            )
            return
        path = _path(doc_uri)
        text = _apply_text_edits(path.read_text(encoding="utf-8"), edits, self.encoding)
        path.write_text(text, encoding="utf-8", newline="")


def _path(doc_uri: str) -> Path:
    fs_path = to_fs_path(doc_uri)
    assert fs_path is not None, doc_uri
    return Path(fs_path)


def _apply_text_edits(text: str, edits: Any, encoding: str) -> str:
    index = LineIndex(text)
    spans = sorted(
        ((index.offset(e.range.start, encoding), index.offset(e.range.end, encoding), e.new_text)
         for e in edits),
        reverse=True,
    )
    for start, end, new_text in spans:
        text = text[:start] + new_text + text[end:]
    return text


def make_client() -> TestEditor:
    return TestEditor()


CONFIG = ClientServerConfig(
    server_command=SERVER_COMMAND, client_factory=make_client, server_env=server_env()
)


def settings(model_url: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """Settings pointing at the scripted model server, fast retries, small limits."""
    base: dict[str, Any] = {
        "provider": {
            "kind": "openai",
            "baseUrl": model_url,
            "model": "scripted",
            "apiKeyEnv": API_KEY_ENV,
            "timeoutSeconds": 10,
            "maxRetries": 0,
        },
        "session": {"maxIterations": 6, "toolTimeoutSeconds": 10},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return base


def rpc_error(exc: BaseException) -> tuple[int, Any]:
    assert isinstance(exc, JsonRpcException), repr(exc)
    return exc.code, exc.data
