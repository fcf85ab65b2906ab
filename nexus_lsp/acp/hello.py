"""The answer to ACP's ``initialize``, light: the standard library only.

Editors spawn the agent and wait for ``initialize``; the ACP package and pydantic
take longer to import than the rest of the start-up. So the first message, when it
is a well-formed ``initialize``, is answered from here before they load (serve.py),
and :meth:`~nexus_lsp.acp.agent.NexusAgent.initialize` answers later ones from the
same dict: one source of the capabilities.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROTOCOL_VERSION", "client_fs", "initialize_answer", "initialize_result"]

PROTOCOL_VERSION = 1  # ACP v1 (acp.PROTOCOL_VERSION; a unit test keeps them equal)


def initialize_result(protocol_version: int) -> dict[str, Any]:
    return {
        "protocolVersion": min(protocol_version, PROTOCOL_VERSION),
        "agentCapabilities": {
            "loadSession": True,
            "promptCapabilities": {"image": False, "audio": False, "embeddedContext": True},
            # mcpServers of session/new, load and resume: stdio and streamable HTTP.
            "mcpCapabilities": {"http": True, "sse": False},
            "sessionCapabilities": {"list": {}, "delete": {}, "resume": {}, "close": {}},
        },
        "agentInfo": {"name": "nexus-lsp", "title": "Nexus", "version": _version()},
        "authMethods": [],
    }


def client_fs(params: Any) -> tuple[bool, bool]:
    """(readTextFile, writeTextFile) offered in ``initialize``'s params."""
    fs = (params.get("clientCapabilities") or {}).get("fs") if isinstance(params, dict) else None
    if not isinstance(fs, dict):
        return False, False
    return fs.get("readTextFile") is True, fs.get("writeTextFile") is True


def initialize_answer(message: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON-RPC answer to ``message`` if it is a valid ``initialize``, else None
    (the ACP package then answers it, errors included)."""
    params = message.get("params")
    if message.get("method") != "initialize" or "id" not in message or not isinstance(
        params, dict
    ):
        return None
    version = params.get("protocolVersion")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= 65535:
        return None
    return {"jsonrpc": "2.0", "id": message["id"], "result": initialize_result(version)}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nexus-lsp")
    except PackageNotFoundError:
        return "unknown"
