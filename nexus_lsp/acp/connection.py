"""The ACP package's agent-side connection over our transport (the heavy imports).

``session/delete`` has no route in the package (0.12): it is added to its router
(a pinned internal).
"""

from __future__ import annotations

from typing import Any, cast

from acp import AGENT_METHODS, Agent
from acp.agent.connection import AgentSideConnection
from acp.router import MessageRouter, Route
from acp.schema import DeleteSessionRequest

from nexus_lsp.acp.agent import NexusAgent
from nexus_lsp.acp.transport import StdioTransport

__all__ = ["connect"]


def connect(agent: NexusAgent, transport: StdioTransport) -> AgentSideConnection:
    """The agent's connection over ``transport``, with ``session/delete`` routed."""
    # NexusAgent implements part of the Agent protocol: the router answers the
    # other methods (fork, set_mode until permissions land, ...) with -32601.
    conn = AgentSideConnection(
        cast(Agent, agent), transport, listening=False, use_unstable_protocol=True
    )
    router = cast(MessageRouter, conn._conn._handler)  # the pinned package's router

    async def delete(params: Any) -> Any:
        request = DeleteSessionRequest.model_validate(params)
        return await agent.delete_session(request.session_id)

    router.add_route(
        Route(method=AGENT_METHODS["session_delete"], func=delete, kind="request")
    )
    return conn
