"""Incoming JSON-RPC messages: every request gets exactly one answer.

pygls parses a body with ``json.loads(object_hook=structure_message)``: the hook runs
on every nested object, so any object in the params holding a ``jsonrpc`` key was
taken for a message, and whatever failed in there (a missing ``params``, an extra
member, params of the wrong shape) was logged with a traceback and the request
dropped: the client waited forever. Here a body is parsed as plain JSON, the
envelope is checked, and only then is the message structured, once, at the top:

- not JSON: ``-32700`` ParseError, ``id: null`` (JSON-RPC 2.0 §5);
- not a message (not an object, no ``jsonrpc: "2.0"``, an ``id`` that is neither a
  number nor a string, no ``method``/``result``/``error``): ``-32600``
  InvalidRequest, with the request's id when it has a usable one, else ``null``;
- a request after ``shutdown``: ``-32600`` (as the LSP specification asks);
- an unknown method: ``-32601``;
- params that are not an object or an array, or that do not fit the method's LSP
  type: ``-32602`` naming each bad field (``params.context: required``).

Members JSON-RPC does not define are ignored, as lsprotocol's types ignore them. A
notification never gets an answer (JSON-RPC): a bad one is logged and dropped.

A client's mistake is one log line without a traceback (WARNING), also for the
errors handlers raise (``-32602`` from ``lsp/params.py``, ``-32803`` refusals at
INFO); only what becomes ``-32603`` (a bug) keeps pygls' traceback.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    LanguageServerProtocol,
)

from nexus_lsp import wire
from nexus_lsp.lsp.converter import describe_structure_error, json_type

__all__ = ["INVALID_REQUEST", "METHOD_NOT_FOUND", "PARSE_ERROR", "JsonRpcDoor"]

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603
# Errors that say the client asked wrongly: logged at WARNING; other answered errors
# (refusals such as sessionBusy, cancellations) at INFO; -32603 with its traceback.
CLIENT_MISTAKES = range(PARSE_ERROR, INVALID_REQUEST + 1)

MsgId = int | str


class _Refused(Exception):
    """An incoming message that cannot be handled: answered with ``code`` if a request."""

    def __init__(self, code: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class JsonRpcDoor(LanguageServerProtocol):
    """pygls' protocol, fed with parsed messages from ``lsp/framing.py``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._methods: dict[MsgId, str] = {}  # requests in flight, for the log line

    def handle_json(self, data: Any) -> None:
        """Handle one parsed message (``lsp/framing.py`` answers what is not JSON);
        a request is answered exactly once."""
        # The --log-file shows what came in (pygls logs what goes out).
        if log.isEnabledFor(logging.DEBUG):
            log.debug("received: %s", _preview(data))
        if not isinstance(data, dict):
            self.refuse(None, INVALID_REQUEST, f"a message is a JSON object, not {json_type(data)}")
            return
        raw_id = data.get("id")
        usable_id = isinstance(raw_id, int | str) and not isinstance(raw_id, bool)
        msg_id: MsgId | None = raw_id if usable_id else None
        is_request = "id" in data and "method" in data
        try:
            if data.get("jsonrpc") != "2.0":
                raise _Refused(INVALID_REQUEST, 'jsonrpc: expected "2.0"', "jsonrpc")
            if "id" in data and not usable_id:
                raise _Refused(INVALID_REQUEST, "id: expected a number or a string", "id")
            if "method" in data:
                self._method_message(data, msg_id if is_request else None)
            elif "id" in data and ("result" in data or "error" in data):
                self._response(data, raw_id)
            else:
                raise _Refused(
                    INVALID_REQUEST,
                    "a message needs a method (request, notification) or a result or an error "
                    "(response)",
                )
        except _Refused as refused:
            if "method" in data and "id" not in data:  # a notification: never answered
                log.warning("notification %r ignored: %s", data.get("method"), refused)
            elif "method" not in data and ("result" in data or "error" in data):
                # An answer is never answered either (a client may report our mistake
                # with an error whose id is null).
                log.warning("answer %s ignored: %s", json.dumps(raw_id, default=str), refused)
            else:
                self.refuse(msg_id, refused.code, str(refused), refused.field)

    def refuse(
        self,
        msg_id: MsgId | None,
        code: int,
        message: str,
        field: str | None = None,
        *,
        level: int = logging.WARNING,
    ) -> None:
        """Answer ``msg_id`` (``None``: a message whose id is unknown) with an error."""
        log.log(level, "message refused (%d, id %s): %s", code, json.dumps(msg_id), message)
        error: dict[str, Any] = {"code": code, "message": message}
        if field is not None:
            error["data"] = {"field": field}
        # A plain dict: lsprotocol's ResponseErrorMessage leaves out an id of None,
        # and JSON-RPC wants "id": null there.
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": error})

    def _method_message(self, data: dict[str, Any], msg_id: MsgId | None) -> None:
        method = data["method"]
        if not isinstance(method, str) or not method:
            raise _Refused(INVALID_REQUEST, "method: expected a non-empty string", "method")
        params = data.get("params")
        if params is not None and not isinstance(params, dict | list):
            raise _Refused(
                wire.INVALID_PARAMS,
                f"params: expected an object or an array, not {json_type(params)}",
                "params",
            )
        if msg_id is not None:
            if self._shutdown and method != types.EXIT:
                raise _Refused(INVALID_REQUEST, "the server is shutting down (shutdown came)")
            if not self._has_handler(method):
                raise _Refused(METHOD_NOT_FOUND, f"unknown method {method!r}")
        members = {k: data[k] for k in ("id", "method", "jsonrpc", "params") if k in data}
        generic = JsonRPCNotification if msg_id is None else JsonRPCRequestMessage
        message_type = self.get_message_type(method) or generic
        try:
            message = self._converter.structure(members, message_type)
        except Exception as exc:
            text, field = describe_structure_error(exc)
            raise _Refused(wire.INVALID_PARAMS, text, field) from None
        if msg_id is not None:
            self._methods[msg_id] = method
        self.handle_message(message)

    def _response(self, data: dict[str, Any], msg_id: Any) -> None:
        """A client's answer to a server request (``workspace/applyEdit``, ...)."""
        message: Any
        try:
            if "error" in data:
                message = self._converter.structure(data, types.ResponseErrorMessage)
            else:
                result_type = self._result_types.pop(msg_id, None) or JsonRPCResponseMessage
                message = self._converter.structure(data, result_type)
        except Exception as exc:
            # Not answerable (it is an answer): fail the request that waits for it.
            text, _ = describe_structure_error(exc)
            log.warning("the client's answer to request %s is invalid: %s", msg_id, text)
            error = types.ResponseError(code=INVALID_REQUEST, message=f"invalid answer: {text}")
            self._handle_response(msg_id, None, error)
            return
        self.handle_message(message)

    def _has_handler(self, method: str) -> bool:
        return method in self.fm.builtin_features or method in self.fm.features

    def _send_handler_result(self, future: Future[Any], *, msg_id: MsgId) -> None:
        method = self._methods.pop(msg_id, "request")
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, JsonRpcException) and exc.code != INTERNAL_ERROR:
            # pygls would log this with a traceback: a refusal is one line.
            self._request_futures.pop(msg_id, None)
            level = logging.WARNING if exc.code in CLIENT_MISTAKES else logging.INFO
            log.log(level, "%s (id %s) answered %d: %s", method, msg_id, exc.code, exc.message)
            self._send_response(msg_id, error=exc.to_response_error())
            return
        super()._send_handler_result(future, msg_id=msg_id)


DEBUG_PREVIEW_CHARS = 4000


def _preview(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, default=str)
    if len(text) <= DEBUG_PREVIEW_CHARS:
        return text
    return f"{text[:DEBUG_PREVIEW_CHARS]}… ({len(text):,} characters)"
