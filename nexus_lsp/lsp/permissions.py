"""The LSP door's :class:`~nexus_lsp.permissions.gate.PermissionAsker` (protocol v2 §1).

How a question reaches the user, best first:

1. ``nexus/permission/request`` to a client that declared
   ``initializationOptions.clientFeatures.permissionRequests``;
2. ``window/showMessageRequest`` with the option names as actions, to a client that
   declared ``window.showMessage`` (any editor's plain dialog); no action chosen
   (dismissed) is a ``cancelled`` answer;
3. neither: ``unavailable``, which the gate answers with
   ``denied: no way to ask (set permissions.mode or a rule)``.

When the turn is cancelled while the question is pending, the waiting task is
cancelled (the gate races it against the turn's token): the request is withdrawn with
``$/cancelRequest`` and a late answer is ignored (pygls drops it: its future is
cancelled).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from nexus_lsp import wire
from nexus_lsp.lsp.channel import client_supports
from nexus_lsp.permissions.gate import UNAVAILABLE, PermissionAnswer, PermissionQuestion

__all__ = ["LspPermissionAsker"]

log = logging.getLogger(__name__)

_ids = itertools.count(1)


class LspPermissionAsker:
    def __init__(self, server: LanguageServer, features: Mapping[str, bool]) -> None:
        self._server = server
        self.permission_requests = bool(features.get(wire.FEATURE_PERMISSION_REQUESTS))

    @property
    def show_message_requests(self) -> bool:
        return client_supports(self._server, "window.show_message") is not None

    async def ask(self, question: PermissionQuestion) -> PermissionAnswer:
        try:
            return await self._ask(question)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # the client answered with an error: not a yes
            log.warning("asking about %s failed: %s", question.call.name, exc)
            return PermissionAnswer("cancelled")

    async def _ask(self, question: PermissionQuestion) -> PermissionAnswer:
        if self.permission_requests:
            answer = await self._request(wire.PERMISSION_REQUEST, question.to_json())
            return _answer_of(answer)
        if self.show_message_requests:
            return await self._show_message_request(question)
        log.info("%s: no way to ask the client (no permissionRequests, no showMessageRequest)",
                 question.call.name)
        return PermissionAnswer(UNAVAILABLE)

    async def _show_message_request(self, question: PermissionQuestion) -> PermissionAnswer:
        params = types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=f"Nexus: {question.title}?",
            actions=[types.MessageActionItem(title=o.name) for o in question.options],
        )
        answer = await self._request(types.WINDOW_SHOW_MESSAGE_REQUEST, params)
        title = getattr(answer, "title", None)
        if title is None and isinstance(answer, Mapping):
            title = answer.get("title")
        for option in question.options:
            if option.name == title:
                return PermissionAnswer("selected", option.option_id)
        return PermissionAnswer("cancelled")

    async def _request(self, method: str, params: Any) -> Any:
        msg_id = f"nexus-permission-{next(_ids)}"
        protocol = self._server.protocol
        future = asyncio.wrap_future(protocol.send_request(method, params, msg_id=msg_id))
        try:
            return await future
        except asyncio.CancelledError:
            # The turn was cancelled: withdraw the question from the client.
            protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
            raise


def _answer_of(answer: Any) -> PermissionAnswer:
    if not isinstance(answer, Mapping):
        log.warning("%s answered %r, not an object: taken as dismissed",
                    wire.PERMISSION_REQUEST, answer)
        return PermissionAnswer("cancelled")
    if answer.get("outcome") == wire.OUTCOME_SELECTED and isinstance(answer.get("optionId"), str):
        return PermissionAnswer("selected", answer["optionId"])
    return PermissionAnswer("cancelled")
