"""The client connection as the turn reporter sees it (``updates.UpdateChannel``).

Wraps pygls: ``nexus/session/update`` notifications, and work-done progress with
cancellation. pygls keeps a cancellation future per progress token and never drops
it; this channel removes the token when its progress ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from nexus_lsp import wire

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from nexus_lsp.host.notify import MessageLevel

__all__ = [
    "LspChannel",
    "LspNotifier",
    "client_features",
    "client_supports",
    "strip_client_features",
]

log = logging.getLogger(__name__)

ProgressToken = int | str


def client_supports(server: LanguageServer, path: str) -> Any:
    """A client capability by dotted attribute path (``window.work_done_progress``)."""
    node: Any = server.client_capabilities
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


def client_features(options: Any) -> dict[str, bool]:
    """``initializationOptions.clientFeatures`` (booleans only; anything else is off)."""
    if not isinstance(options, Mapping):
        return {}
    features = options.get(wire.CLIENT_FEATURES)
    if not isinstance(features, Mapping):
        return {}
    return {str(k): v for k, v in features.items() if isinstance(v, bool)}


def strip_client_features(options: Any) -> Any:
    """The options without ``clientFeatures``, which is not a setting."""
    if isinstance(options, Mapping) and wire.CLIENT_FEATURES in options:
        return {k: v for k, v in options.items() if k != wire.CLIENT_FEATURES}
    return options


class LspChannel:
    def __init__(self, server: LanguageServer) -> None:
        self._server = server

    @property
    def progress_supported(self) -> bool:
        return bool(client_supports(self._server, "window.work_done_progress"))

    def notify_update(self, params: dict[str, Any]) -> None:
        self._server.protocol.notify(wire.SESSION_UPDATE, params)

    async def create_progress(self, token: ProgressToken) -> None:
        await self._server.work_done_progress.create_async(token)

    def begin_progress(self, token: ProgressToken, title: str, message: str | None) -> None:
        self._server.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title=title, cancellable=True, message=message, percentage=0
            ),
        )

    def report_progress(self, token: ProgressToken, message: str, percentage: int) -> None:
        self._server.work_done_progress.report(
            token, types.WorkDoneProgressReport(message=message, percentage=percentage)
        )

    def report_step(self, token: ProgressToken, message: str) -> None:
        """A progress message without a percentage (a turn has no measure of done)."""
        self._server.work_done_progress.report(
            token, types.WorkDoneProgressReport(message=message)
        )

    def show_message(self, level: types.MessageType, text: str) -> None:
        self._server.window_show_message(types.ShowMessageParams(type=level, message=text))

    def end_progress(self, token: ProgressToken, message: str) -> None:
        progress = self._server.work_done_progress
        progress.end(token, types.WorkDoneProgressEnd(message=message))
        future = progress.tokens.pop(token, None)
        if future is not None and not future.done():
            # Resolving it keeps a late cancel of an ended progress from acting.
            future.set_result(None)

    def on_progress_cancel(self, token: ProgressToken, callback: Callable[[], None]) -> None:
        future = self._server.work_done_progress.tokens.setdefault(token, Future())

        def done(fut: Future[Any]) -> None:
            if fut.cancelled():
                callback()

        future.add_done_callback(done)


_MESSAGE_TYPES = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
}


class LspNotifier:
    """The host's :class:`~nexus_lsp.host.notify.Notifier`: ``window/showMessage``."""

    def __init__(self, server: LanguageServer) -> None:
        self._server = server

    def show_message(self, level: MessageLevel, text: str) -> None:
        self._server.window_show_message(
            types.ShowMessageParams(type=_MESSAGE_TYPES[level], message=text)
        )
