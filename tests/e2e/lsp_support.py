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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.uris import from_fs_path, to_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from nexus_lsp import wire
from nexus_lsp.lsp.converter import dict_converter
from nexus_lsp.lsp.edits import LineIndex

SERVER_COMMAND = [sys.executable, "-m", "nexus_lsp"]
API_KEY_ENV = "NEXUS_E2E_KEY"
WAIT = 15.0  # upper bound for anything a test waits for; never a timing assertion


def server_env(**extra: str) -> dict[str, str]:
    # the user's own settings file (nexus-lsp acp, ask) never leaks into a test
    base = {**os.environ, "XDG_CONFIG_HOME": "/nonexistent/nexus-lsp-test-config"}
    return {**base, API_KEY_ENV: "e2e-secret-key", **extra}


def uri(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()


class TestEditor(LanguageClient):
    """A pytest-lsp client with the behaviour of an editor (see the module docstring)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self) -> None:
        super().__init__(converter_factory=client_converter)
        register_lsp_features(
            self, {**DEFAULT_CLIENT_FEATURES, types.WINDOW_SHOW_DOCUMENT: _show_document}
        )
        # for each window/showDocument: the ids of this client's requests unanswered then
        self.unanswered_at_show: list[set[Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.buffers: dict[str, tuple[int, str]] = {}  # uri → (version, text)
        self.edit_requests: list[types.ApplyWorkspaceEditParams] = []
        self.reject_edits: str | None = None
        self.hold_edits: asyncio.Event | None = None
        self.edit_arrived = asyncio.Event()
        self.encoding: str = types.PositionEncodingKind.Utf16
        self.late_answers = 0
        self._update_arrived = asyncio.Event()
        # nexus/permission/request (protocol v2 §1): the questions, and the option ids
        # to answer in order (None answers {"outcome": "cancelled"}).
        self.permission_requests: list[dict[str, Any]] = []
        self.permission_answers: list[str | None] = []
        self.hold_permission: asyncio.Event | None = None
        self.permission_arrived = asyncio.Event()
        self.permission_withdrawn: list[str] = []  # call ids whose question was cancelled
        self.permission_withdrawn_event = asyncio.Event()
        self.permissions_pending = 0
        self.most_permissions_pending = 0
        # window/showMessageRequest: what was asked, and the action titles to choose
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.message_request_answers: list[str | None] = []

        @self.feature(wire.PERMISSION_REQUEST)  # type: ignore[untyped-decorator]
        async def on_permission(client: TestEditor, params: dict[str, Any]) -> dict[str, Any]:
            return await client.answer_permission(params)

        @self.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)  # type: ignore[untyped-decorator]
        def on_message_request(
            client: TestEditor, params: types.ShowMessageRequestParams
        ) -> types.MessageActionItem | None:
            client.message_requests.append(params)
            answers = client.message_request_answers
            title = answers.pop(0) if answers else None
            return None if title is None else types.MessageActionItem(title=title)

        @self.feature(wire.SESSION_UPDATE)  # type: ignore[untyped-decorator]
        def on_update(client: TestEditor, params: dict[str, Any]) -> None:
            client.updates.append(params)
            client._update_arrived.set()

        @self.feature(types.WORKSPACE_APPLY_EDIT)  # type: ignore[untyped-decorator]
        async def on_apply_edit(
            client: TestEditor, params: types.ApplyWorkspaceEditParams
        ) -> types.ApplyWorkspaceEditResult:
            return await client.apply_edit(params)

    async def _server_exit(self) -> None:
        # pygls sets an exception on every pending future when the server dies, and
        # fails on the tasks of this client's own handlers (a held applyEdit): those
        # are taken out and cancelled first.
        process = self.server_process
        if process is not None:
            await process.wait()
            futures = self.protocol._request_futures
            for key, future in list(futures.items()):
                if isinstance(future, asyncio.Task) and not future.done():
                    del futures[key]
                    future.cancel()
        await super()._server_exit()  # type: ignore[no-untyped-call]

    @property
    def server_process(self) -> asyncio.subprocess.Process | None:
        process: asyncio.subprocess.Process | None = self._server
        return process

    # requests -------------------------------------------------------------------

    def start_request(self, method: str, params: Any, msg_id: int | None = None) -> Any:
        """Send a request now; the returned future gives its result."""
        request = self.protocol.send_request_async(  # type: ignore[no-untyped-call]
            method, params, msg_id=msg_id
        )
        return asyncio.ensure_future(request)

    async def request(self, method: str, params: Any, msg_id: int | None = None) -> Any:
        return await asyncio.wait_for(self.start_request(method, params, msg_id), WAIT)

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

    async def wait_for_log(self, text: str) -> types.LogMessageParams:
        """Wait for a ``window/logMessage`` containing ``text``."""
        async with asyncio.timeout(WAIT):
            while True:
                for message in self.log_messages:
                    if text in message.message:
                        return message
                await asyncio.sleep(0.01)

    async def wait_for_message(self, text: str) -> types.ShowMessageParams:
        """Wait for a ``window/showMessage`` containing ``text``."""
        async with asyncio.timeout(WAIT):
            while True:
                for message in self.messages:
                    if text in message.message:
                        return message
                await asyncio.sleep(0.01)

    def turn_updates(self, session_id: str, turn_id: int) -> list[dict[str, Any]]:
        return [u for u in self.updates if u["sessionId"] == session_id and u["turnId"] == turn_id]

    async def answer_permission(self, params: dict[str, Any]) -> dict[str, Any]:
        self.permission_requests.append(params)
        self.permission_arrived.set()
        self.permissions_pending += 1
        self.most_permissions_pending = max(self.most_permissions_pending,
                                            self.permissions_pending)
        try:
            if self.hold_permission is not None:
                await self.hold_permission.wait()
        except asyncio.CancelledError:  # the server sent $/cancelRequest
            self.permission_withdrawn.append(params["toolCall"]["id"])
            self.permission_withdrawn_event.set()
            raise
        finally:
            self.permissions_pending -= 1
        option = self.permission_answers.pop(0) if self.permission_answers else None
        if option is None:
            return {"outcome": wire.OUTCOME_CANCELLED}
        return {"outcome": wire.OUTCOME_SELECTED, "optionId": option}

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


def _show_document(
    client: TestEditor, params: types.ShowDocumentParams
) -> types.ShowDocumentResult:
    client.shown_documents.append(params)
    client.unanswered_at_show.append(set(client.protocol._request_futures))
    return types.ShowDocumentResult(success=True)


def client_converter() -> Any:
    """The server's dict converter, plus a fix for lsprotocol reading every code action
    that carries a ``command`` as a bare ``Command`` (it checks the key, not its type)."""
    converter = dict_converter()

    def code_action(obj: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(types.Command | types.CodeAction, code_action)
    return converter


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


def initialize_params(
    capabilities: types.ClientCapabilities, root: Path, options: object
) -> types.InitializeParams:
    return types.InitializeParams(
        capabilities=capabilities,
        root_uri=uri(root),
        workspace_folders=[types.WorkspaceFolder(uri=uri(root), name=root.name)],
        initialization_options=options,
    )


async def start(
    client: TestEditor, capabilities: types.ClientCapabilities, root: Path, options: object
) -> types.InitializeResult:
    result = await client.initialize_session(initialize_params(capabilities, root, options))
    encoding = result.capabilities.position_encoding
    client.encoding = str(getattr(encoding, "value", encoding) or "utf-16")
    return result


@asynccontextmanager
async def connected(
    editor: str | types.ClientCapabilities,
    root: Path,
    options: object,
    configuration: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[TestEditor]:
    """A fresh server process with a test editor initialized as ``editor`` (a
    pytest-lsp client name or capabilities); ``configuration`` is what the editor
    answers to ``workspace/configuration`` for section ``nexus``; ``env`` replaces the
    server's environment."""
    config = CONFIG if env is None else ClientServerConfig(
        server_command=SERVER_COMMAND, client_factory=make_client, server_env=env
    )
    client = await config.start()
    assert isinstance(client, TestEditor)
    if configuration is not None:
        client.set_configuration(configuration, section=wire.SETTINGS_SECTION)
    capabilities = (
        pytest_lsp.client_capabilities(editor) if isinstance(editor, str) else editor
    )
    try:
        await start(client, capabilities, root, options)
        yield client
        await asyncio.wait_for(client.shutdown_session(), WAIT)
    finally:
        await stop(client)


async def stop(client: TestEditor) -> int | None:
    """Stop the client; a server still running sees its stdin close (then is killed)."""
    process = client.server_process
    if process is not None and process.returncode is None:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), WAIT)
        except TimeoutError:
            process.kill()
            await process.wait()
    await client.stop()  # type: ignore[no-untyped-call]
    return process.returncode if process is not None else None


def rpc_error(exc: BaseException) -> tuple[int, Any]:
    assert isinstance(exc, JsonRpcException), repr(exc)
    return exc.code, exc.data
