"""ACP's JSON-RPC errors: the message says what was wrong, ``data.reason`` is ours."""

from __future__ import annotations

from acp import RequestError

__all__ = ["INTERNAL_ERROR", "INVALID_PARAMS", "rpc_error"]

INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


def rpc_error(reason: str, message: str, code: int = INVALID_PARAMS) -> RequestError:
    return RequestError(code, message, {"reason": reason, "message": message})
