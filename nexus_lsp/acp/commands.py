"""The slash commands of an ACP session (``available_commands_update``): ``/compact``
runs the core's compaction; ``/fork`` and ``/revert`` wait for the checkpoints issue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from acp import helpers
from acp.schema import (
    AvailableCommand,
    AvailableCommandInput,
    AvailableCommandsUpdate,
    PromptResponse,
    UnstructuredCommandInput,
)

from nexus_lsp.acp.rpc_errors import rpc_error
from nexus_lsp.acp.updates import AcpReporter
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.errors import SessionBusy, UnknownSession

if TYPE_CHECKING:
    from nexus_lsp.acp.workspace import AcpWorkspace
    from nexus_lsp.host.runtime import WorkspaceRuntime

__all__ = ["COMMAND_HELP", "available_commands", "compact", "not_available",
           "nothing_to_compact"]

Send = Callable[[str, Any], Awaitable[None]]

COMMAND_HELP = {
    "compact": "Summarise the older part of the conversation to free context",
    "fork": "Start a new session from this one's history",
    "revert": "Undo the file changes of the last turn",
}


def available_commands() -> AvailableCommandsUpdate:
    return helpers.update_available_commands([
        AvailableCommand(name=name, description=text, input=AvailableCommandInput(
            root=UnstructuredCommandInput(hint="optional instructions")))
        for name, text in COMMAND_HELP.items()
    ])


async def not_available(send: Send, session_id: str, command: str) -> PromptResponse:
    text = f"/{command} is not available yet in this version of nexus-lsp."
    await send(session_id, helpers.update_agent_message_text(text))
    return PromptResponse(stop_reason="end_turn")


async def nothing_to_compact(send: Send, session_id: str) -> PromptResponse:
    await send(session_id, helpers.update_agent_message_text(
        "Nothing to compact yet: the session has no conversation."))
    return PromptResponse(stop_reason="end_turn")


async def compact(runtime: WorkspaceRuntime[AcpWorkspace], session_id: str, send: Send,
                  token: CancellationToken) -> PromptResponse:
    """``/compact``: the core's compaction now; its note (see ``AcpReporter``) is the
    command's answer. ``token`` cancelled: the context was truncated instead."""
    reporter = AcpReporter(send, session_id, runtime.root,
                           runtime.settings.session.context_tokens, notes="message")
    try:
        await runtime.compact(session_id, reporter, token)
    except SessionBusy as exc:
        raise rpc_error("sessionBusy", str(exc)) from exc
    except UnknownSession as exc:
        raise rpc_error("unknownSession", str(exc)) from exc
    finally:
        await reporter.aclose()
    return PromptResponse(stop_reason="cancelled" if token.cancelled else "end_turn")
