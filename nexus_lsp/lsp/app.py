"""The pygls language server: capabilities, lifecycle and the feature table.

Every feature here is a one-line shim to :class:`~nexus_lsp.lsp.handlers.Handlers`,
which is built on first use: the first ``nexus/*`` request or command (not at
``initialized``), so a user who opens a folder and never asks pays no memory for the
agent and finds no ``.nexus/`` folder. That keeps this module, and so the path that
answers ``initialize``, free of the heavy imports (pydantic, httpx, aiosqlite,
providers, storage, session): they happen inside :meth:`NexusLanguageServer.nexus`.
Settings are lighter: a configuration push or a code action before that first use
reads and validates them (:meth:`NexusLanguageServer.settings_source`) without
opening the store, and the runtime built later takes them over.

Errors are mapped to JSON-RPC errors in one place, :func:`~nexus_lsp.lsp.rpc_errors.rpc_errors`.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import lsp_method

from nexus_lsp import wire
from nexus_lsp.errors import NexusError
from nexus_lsp.keys import add_key_env_of
from nexus_lsp.lsp.channel import client_features
from nexus_lsp.lsp.converter import dict_converter
from nexus_lsp.lsp.jsonrpc import JsonRpcDoor
from nexus_lsp.lsp.logs import LspLogHandler
from nexus_lsp.lsp.rpc_errors import rpc_errors

if TYPE_CHECKING:
    from cattrs import Converter

    from nexus_lsp.core.cancel import CancellationToken
    from nexus_lsp.lsp.handlers import Handlers
    from nexus_lsp.lsp.settings import LspSettingsSource

__all__ = ["NexusLanguageServer", "create_server", "experimental_capabilities"]

log = logging.getLogger(__name__)

# How long closing waits for a start-up under way (opening the store) to finish.
STARTUP_CLOSE_SECONDS = 5.0
PRUNE_EVERY = 256


def experimental_capabilities(features: dict[str, bool] | None = None) -> dict[str, Any]:
    """``capabilities.experimental`` of the initialize result (protocol §1).

    ``clientFeatures`` lists the optional client features (protocol v2) the server will
    use: those the client declared that it knows."""
    declared = features or {}
    used = [name for name in wire.USED_CLIENT_FEATURES if declared.get(name)]
    tools = list(wire.BUILTIN_TOOLS)
    if declared.get(wire.FEATURE_DIAGNOSTICS):
        tools.append(wire.TOOL_GET_DIAGNOSTICS)
    return {
        "nexus": {
            "protocolVersion": wire.PROTOCOL_VERSION,
            "methods": [
                *wire.REQUEST_METHODS,
                *wire.CHECKPOINT_METHODS,
                wire.SESSION_CANCEL,
                wire.SESSION_UPDATE,
            ],
            "tools": tools,
            "commands": [
                wire.COMMAND_ASK, wire.COMMAND_CANCEL, wire.COMMAND_REVERT, wire.COMMAND_FORK
            ],
            "clientFeatures": used,
        }
    }


class NexusProtocol(JsonRpcDoor):
    """Adds ``experimental.nexus`` to the capabilities pygls computes, and keeps
    pygls' table of in-flight futures from growing with every notification.
    Incoming messages are checked by :class:`JsonRpcDoor` (one answer per request)."""

    def __init__(self, server: LanguageServer, converter: Converter) -> None:
        super().__init__(server, converter)
        self._notifications = 0
        self._answered: dict[Any, asyncio.Future[None]] = {}

    def answered(self, msg_id: Any) -> asyncio.Future[None]:
        """Resolved once the response to request ``msg_id`` has been written.

        What follows a command (``window/showDocument`` of the transcript) must reach
        the editor after the command's answer: eglot aborts the prompt it shows for a
        document that changed on disk when the answer arrives during it."""
        future = self._answered.get(msg_id)
        if future is None:
            future = self._answered[msg_id] = asyncio.get_running_loop().create_future()
        return future

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        try:
            super()._send_response(msg_id, result, error)
        finally:
            future = self._answered.pop(msg_id, None)
            if future is not None and not future.done():
                future.set_result(None)

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        # Noted on receipt: an `exit` read right after must not wait for the close.
        if isinstance(self._server, NexusLanguageServer):
            self._server.shutdown_requested = True
        yield from super().lsp_shutdown(*args)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        """End the serve loop; its clean-up cancels turns and closes the store.

        Not pygls' ``exit``: that one first yields to a user handler and resumes in a
        callback, which pygls' own ``shutdown`` cancels when ``exit`` arrives before
        ``shutdown`` has finished, and then calls ``sys.exit()`` from the event loop;
        with a stdin the client keeps open (Neovim's socket) the process never ended.
        Exit code per the LSP spec: 0 when ``shutdown`` was asked first, else 1.
        """
        yield from ()  # a generator, as pygls expects, that runs to its end at once
        server = self._server
        if not isinstance(server, NexusLanguageServer):
            return
        server.exit_code = 0 if server.shutdown_requested else 1
        if server.log_handler is not None:
            server.log_handler.detach()
        if server.stop_serving is not None:
            server.stop_serving()

    def _handle_notification(self, method_name: str, params: Any) -> None:
        super()._handle_notification(method_name, params)
        # pygls files a future for each notification it handles and never removes
        # it: one per didChange keystroke, for the life of the server.
        self._notifications += 1
        if self._notifications % PRUNE_EVERY == 0:
            futures = self._request_futures
            for key in [k for k, f in futures.items() if f.done()]:
                futures.pop(key, None)

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(
        self, params: types.InitializeParams
    ) -> Generator[Any, Any, types.InitializeResult]:
        result: types.InitializeResult = yield from super().lsp_initialize(params)
        result.capabilities.experimental = experimental_capabilities(
            client_features(params.initialization_options)
        )
        return result


class NexusLanguageServer(LanguageServer):
    """The server; its nexus state lives in :class:`Handlers`, built after initialize."""

    def __init__(self, log_handler: LspLogHandler | None = None) -> None:
        super().__init__(
            "nexus-lsp",
            _package_version(),
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=NexusProtocol,
            converter_factory=dict_converter,
        )
        self.log_handler = log_handler
        self.initialize_params: types.InitializeParams | None = None
        self._startup: asyncio.Future[Handlers] | None = None
        self._settings: LspSettingsSource | None = None
        self._closing: asyncio.Future[None] | None = None
        # Set by the serve loop: ends it. `exit` must end the process even when the
        # client keeps its end of stdin open (Neovim hands over a socket).
        self.stop_serving: Callable[[], None] | None = None
        self.shutdown_requested = False
        self.exit_code = 0

    async def nexus(self) -> Handlers:
        """The handlers, built (settings, store, session manager) on first use."""
        if self._closing is not None:
            raise NexusError("the server is shutting down")
        if self._startup is None:
            self._startup = asyncio.ensure_future(self._start())
        # shield: a cancelled request must not cancel the start-up others wait for
        return await asyncio.shield(self._startup)

    def request_cancel_token(self) -> CancellationToken:
        """A token cancelled by ``$/cancelRequest`` for the current request.

        For handlers pygls runs inside its generator features (``nexus.ask`` under
        ``workspace/executeCommand``): there pygls cancels only the request's
        future, not the handler, so the handler watches that future.
        """
        # Imported here: nexus_lsp.core (~8 ms of dataclasses) stays off the path that
        # answers initialize.
        from nexus_lsp.core.cancel import CancellationToken

        token = CancellationToken()
        msg_id = self.protocol.msg_id
        # pygls keeps the request's future in a private table; no public hook exists
        future = self.protocol._request_futures.get(msg_id) if msg_id is not None else None
        if future is not None:
            future.add_done_callback(
                lambda f: token.cancel("the request was cancelled") if f.cancelled() else None
            )
        return token

    def settings_source(self) -> LspSettingsSource:
        """The settings, read (``initializationOptions``) and validated on first use.

        A push or a code action before the runtime starts needs only this; the
        runtime takes it over when it starts.
        """
        if self._settings is None:
            from nexus_lsp.lsp.settings import LspSettingsSource

            self._settings = LspSettingsSource.create(self, self.initialize_params)
        return self._settings

    @property
    def started(self) -> bool:
        """Whether the runtime is built or being built."""
        return self._startup is not None

    def request_answered(self) -> asyncio.Future[None]:
        """Resolved once the answer to the current request has been written."""
        msg_id = self.protocol.msg_id
        if msg_id is None or not isinstance(self.protocol, NexusProtocol):
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return self.protocol.answered(msg_id)

    @property
    def ready_handlers(self) -> Handlers | None:
        """The handlers if they are built already (for notifications that need not wait)."""
        startup = self._startup
        if startup is None or not startup.done() or startup.cancelled():
            return None
        return startup.result() if startup.exception() is None else None

    async def _start(self) -> Handlers:
        from nexus_lsp.lsp.handlers import Handlers  # the heavy imports happen here

        handlers = await Handlers.start(self, self.initialize_params, self.settings_source())
        gc.freeze()  # as at start-up (serve.py): the modules just imported stay for good
        return handlers

    async def aclose(self) -> None:
        """Cancel running turns, close the store and providers; idempotent."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        startup = self._startup
        if startup is None:
            return
        if not startup.done():
            # Let a start-up under way finish, then close what it opened: cancelled
            # half-way it would leave the store's connection thread with no owner.
            await asyncio.wait({startup}, timeout=STARTUP_CLOSE_SECONDS)
            startup.cancel()  # no-op when it finished
        try:
            handlers = await startup
        except BaseException:  # start-up failed or was cancelled: nothing to close
            return
        try:
            await handlers.aclose()
        except Exception:  # the process is ending: report, never crash on the way out
            log.exception("closing nexus-lsp failed")


def _package_version() -> str:
    """The installed version, from the dist-info folder's name.

    importlib.metadata would cost ~30 ms on the path that answers ``initialize``.
    """
    for entry in sys.path:
        folder = Path(entry or ".")
        for info in folder.glob("nexus_lsp-*.dist-info"):
            return info.name.removeprefix("nexus_lsp-").removesuffix(".dist-info")
    return "0+unknown"


def create_server(log_handler: LspLogHandler | None = None) -> NexusLanguageServer:
    """A server with every feature of protocol v1 registered."""
    server = NexusLanguageServer(log_handler)
    _register_lifecycle(server)
    _register_nexus_methods(server)
    _register_editor_features(server)
    return server


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def survives_cancel(handler: F) -> F:
    """For async handlers pygls runs inside its generator features (initialized,
    shutdown, exit, commands): pygls cancels pending handlers at shutdown, and a
    cancelled one would escape its generator as an "Exception in callback"."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await handler(*args, **kwargs)
        except asyncio.CancelledError:
            log.debug("%s cancelled", handler.__name__)
            return None

    return wrapper  # type: ignore[return-value]


def _register_lifecycle(server: NexusLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: NexusLanguageServer, params: types.InitializeParams) -> None:
        ls.initialize_params = params
        add_key_env_of(params.initialization_options)  # before anything can quote it

    @server.feature(types.INITIALIZED)
    @survives_cancel
    async def initialized(ls: NexusLanguageServer, params: types.InitializedParams) -> None:
        # The runtime is built on first use (see the module docstring), not here.
        if ls.log_handler is not None:
            ls.log_handler.attach(ls)

    @server.feature(types.SHUTDOWN)
    @survives_cancel
    async def shutdown(ls: NexusLanguageServer, params: None) -> None:
        await ls.aclose()



def _register_nexus_methods(server: NexusLanguageServer) -> None:
    @server.feature(wire.SESSION_NEW)
    async def session_new(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.SESSION_NEW):
            return await (await ls.nexus()).session_new(params)

    @server.feature(wire.SESSION_SEND)
    async def session_send(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.SESSION_SEND):
            return await (await ls.nexus()).session_send(params)

    @server.feature(wire.SESSION_LIST)
    async def session_list(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.SESSION_LIST):
            return await (await ls.nexus()).session_list(params)

    @server.feature(wire.SESSION_LOAD)
    async def session_load(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.SESSION_LOAD):
            return await (await ls.nexus()).session_load(params)

    @server.feature(wire.SESSION_DELETE)
    async def session_delete(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.SESSION_DELETE):
            return await (await ls.nexus()).session_delete(params)

    @server.feature(wire.SESSION_REVERT)
    async def session_revert(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.SESSION_REVERT):
            return await (await ls.nexus()).session_revert(params)

    @server.feature(wire.SESSION_FORK)
    async def session_fork(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.SESSION_FORK):
            return await (await ls.nexus()).session_fork(params)

    @server.feature(wire.SESSION_COMPACT)
    async def session_compact(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.SESSION_COMPACT):
            return await (await ls.nexus()).session_compact(params)

    @server.feature(wire.SESSION_SET_MODE)
    async def session_set_mode(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.SESSION_SET_MODE):
            return await (await ls.nexus()).session_set_mode(params)

    @server.feature(wire.PERMISSIONS_LIST)
    async def permissions_list(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.PERMISSIONS_LIST):
            return await (await ls.nexus()).permissions_list(params)

    @server.feature(wire.MCP_LIST)
    async def mcp_list(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.MCP_LIST):
            return await (await ls.nexus()).mcp_list(params)

    @server.feature(wire.PERMISSIONS_REVOKE)
    async def permissions_revoke(ls: NexusLanguageServer, params: Any) -> Any:
        with rpc_errors(wire.PERMISSIONS_REVOKE):
            return await (await ls.nexus()).permissions_revoke(params)

    @server.feature(wire.SESSION_CANCEL)
    async def session_cancel(ls: NexusLanguageServer, params: Any) -> None:
        try:  # a notification has no response: bad params are only logged
            (await ls.nexus()).session_cancel(params)
        except Exception as exc:
            log.warning("%s ignored: %s", wire.SESSION_CANCEL, exc)

    @server.command(wire.COMMAND_ASK)
    @survives_cancel
    async def ask(ls: NexusLanguageServer, *args: Any) -> Any:
        with rpc_errors(wire.COMMAND_ASK):
            handlers = await ls.nexus()
            return await handlers.ask(list(args), ls.request_cancel_token(), ls.request_answered())

    @server.command(wire.COMMAND_CANCEL)
    @survives_cancel
    async def cancel(ls: NexusLanguageServer, *args: Any) -> Any:
        with rpc_errors(wire.COMMAND_CANCEL):
            return (await ls.nexus()).cancel_all()


    @server.command(wire.COMMAND_REVERT)
    @survives_cancel
    async def revert(ls: NexusLanguageServer, *args: Any) -> Any:
        with rpc_errors(wire.COMMAND_REVERT):
            return await (await ls.nexus()).revert_command(list(args))

    @server.command(wire.COMMAND_FORK)
    @survives_cancel
    async def fork(ls: NexusLanguageServer, *args: Any) -> Any:
        with rpc_errors(wire.COMMAND_FORK):
            return await (await ls.nexus()).fork_command(list(args))


def _register_editor_features(server: NexusLanguageServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[wire.CODE_ACTION_KIND], resolve_provider=False),
    )
    async def code_action(
        ls: NexusLanguageServer, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        with rpc_errors(types.TEXT_DOCUMENT_CODE_ACTION):
            from nexus_lsp.lsp.commands import actions_wanted, code_actions, offers_actions

            if not offers_actions(params):
                return []
            source = ls.settings_source()
            await source.layers.settled()
            actions = code_actions(source.layers.settings.code_actions, params)
            handlers = ls.ready_handlers  # no store opened for a code action
            if handlers is not None and actions_wanted(params):
                actions += await handlers.revert_action()
            return actions

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: NexusLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        if ls.started:
            await (await ls.nexus()).settings_changed(params.settings)
        else:  # validated and kept for the runtime; no store opened for it
            await ls.settings_source().changed(params.settings)

    # The editor's buffers change what read_file sees; LspWorkspace drops what it
    # remembered of a file it edited once the editor reports on that file.
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NexusLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        _document_event(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NexusLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        _document_event(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: NexusLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        _document_event(ls, params.text_document.uri)


def _document_event(ls: NexusLanguageServer, uri: str) -> None:
    handlers = ls.ready_handlers
    if handlers is not None:
        handlers.document_event(uri)
