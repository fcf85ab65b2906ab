"""JSON-RPC errors: the one place where exceptions become error responses.

Handlers raise what the core raises (``UnknownSession``, ``SessionBusy``, ...) or
:class:`ParamsError`; :func:`rpc_errors` maps them to the codes of protocol §2:

=====================  =======  ===================
exception              code     ``data.reason``
=====================  =======  ===================
ParamsError            -32602   (``data.field``)
UnknownSession         -32803   ``unknownSession``
UnknownTurn            -32803   ``unknownTurn``
SessionBusy            -32803   ``sessionBusy``
StoreError             -32803   ``storeUnavailable``
PermissionDenied       -32803   ``permissionDenied``
ConfigError            -32602   (``data.field``)
other NexusError       -32803   ``failed``
=====================  =======  ===================

Anything else is a bug: pygls answers it with -32603 (InternalError) and logs it
with its traceback. A mapped error is the client's mistake or a refusal: the protocol
(``lsp/jsonrpc.py``) logs it in one line when it answers, so it is only noted here
at DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pygls.exceptions import JsonRpcException

from nexus_lsp import wire
from nexus_lsp.errors import (
    ConfigError,
    NexusError,
    PermissionDenied,
    SessionBusy,
    StoreError,
    UnknownSession,
    UnknownTurn,
)

__all__ = ["ParamsError", "rpc_error", "rpc_errors"]

log = logging.getLogger(__name__)

REASON_STORE_UNAVAILABLE = "storeUnavailable"
REASON_FAILED = "failed"


class ParamsError(Exception):
    """Request params that do not validate; the message names each bad field."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def rpc_error(exc: Exception) -> JsonRpcException | None:
    """The JSON-RPC error answering ``exc``, or None when it is not ours to map."""
    if isinstance(exc, ParamsError):
        return JsonRpcException(str(exc), wire.INVALID_PARAMS, {"field": exc.field})
    if isinstance(exc, ConfigError):
        return JsonRpcException(str(exc), wire.INVALID_PARAMS, {"field": exc.field})
    if isinstance(exc, UnknownSession):
        data = {"reason": wire.REASON_UNKNOWN_SESSION, "sessionId": exc.session_id}
        return JsonRpcException(str(exc), wire.REQUEST_FAILED, data)
    if isinstance(exc, UnknownTurn):
        turn_data: dict[str, object] = {"reason": wire.REASON_UNKNOWN_TURN,
                                        "sessionId": exc.session_id, "turnId": exc.turn_id}
        return JsonRpcException(str(exc), wire.REQUEST_FAILED, turn_data)
    if isinstance(exc, SessionBusy):
        data = {"reason": wire.REASON_SESSION_BUSY, "sessionId": exc.session_id}
        return JsonRpcException(str(exc), wire.REQUEST_FAILED, data)
    if isinstance(exc, StoreError):
        data = {"reason": REASON_STORE_UNAVAILABLE}
        return JsonRpcException(str(exc), wire.REQUEST_FAILED, data)
    if isinstance(exc, PermissionDenied):
        data = {"reason": wire.REASON_PERMISSION_DENIED}
        return JsonRpcException(str(exc), wire.REQUEST_FAILED, data)
    if isinstance(exc, NexusError):
        return JsonRpcException(str(exc), wire.REQUEST_FAILED, {"reason": REASON_FAILED})
    return None


@contextmanager
def rpc_errors(method: str) -> Iterator[None]:
    """Turn the core's exceptions raised inside the block into JSON-RPC errors."""
    try:
        yield
    except Exception as exc:
        error = rpc_error(exc)
        if error is None:
            raise
        log.debug("%s failed: %s", method, exc)
        raise error from exc
