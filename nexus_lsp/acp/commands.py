"""The slash commands of an ACP session (``available_commands_update``): ``/compact``
runs the core's compaction; ``/revert [N]`` reverts turn N (default: the last one) and
every later one, code and conversation (protocol v2 §3); ``/fork [N]`` starts a new
session from the history up to turn N (default: all), listed by ``session/list``.
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
from nexus_lsp.errors import NexusError, SessionBusy, UnknownSession, UnknownTurn

if TYPE_CHECKING:
    from nexus_lsp.acp.workspace import AcpWorkspace
    from nexus_lsp.host.runtime import WorkspaceRuntime

__all__ = ["COMMAND_HELP", "available_commands", "compact", "fork",
           "nothing_to_compact", "revert", "turn_argument"]

Send = Callable[[str, Any], Awaitable[None]]

COMMAND_HELP = {
    "compact": "Summarise the older part of the conversation to free context",
    "fork": "Start a new session from this one's history (up to turn N: /fork N)",
    "revert": "Undo the last turn, its file changes and its messages (from turn N: /revert N)",
}


def available_commands() -> AvailableCommandsUpdate:
    return helpers.update_available_commands([
        AvailableCommand(name=name, description=text, input=AvailableCommandInput(
            root=UnstructuredCommandInput(hint="optional instructions")))
        for name, text in COMMAND_HELP.items()
    ])


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


def turn_argument(text: str) -> int | None:
    """The turn number after a command (``/revert 3``), None when not given.

    Raises a -32602 error for anything else."""
    words = text.split()[1:]
    if not words:
        return None
    if len(words) == 1 and words[0].isdigit() and int(words[0]) > 0:
        return int(words[0])
    raise rpc_error("invalidParams", f"expected a turn number (1, 2, ...), got {' '.join(words)!r}")


async def revert(runtime: WorkspaceRuntime[AcpWorkspace], session_id: str, send: Send,
                 turn_id: int | None) -> PromptResponse:
    """``/revert [N]``: as ``nexus/session/revert`` with code and conversation."""
    manager = runtime.manager
    try:
        turn = turn_id if turn_id is not None else await manager.last_turn(session_id)
        result = await manager.revert(session_id, turn)
    except SessionBusy as exc:
        raise rpc_error("sessionBusy", str(exc)) from exc
    except (UnknownSession, UnknownTurn) as exc:
        reason = "unknownTurn" if isinstance(exc, UnknownTurn) else "unknownSession"
        raise rpc_error(reason, str(exc)) from exc
    except NexusError as exc:  # the editor refused the edit, unsaved buffers, ...
        raise rpc_error("failed", str(exc)) from exc
    lines = [f"Reverted turn {turn} and every later one."]
    lines += [f"- {f.path}: {f.action}" for f in result.files]
    lines += [f"- conflict in {c.path}: {c.reason} (left as it is)" for c in result.conflicts]
    lines += [f"- not restored: {n.path}: {n.reason}" for n in result.not_restored]
    lines.append(f"{result.messages_reverted} messages left the conversation.")
    await send(session_id, helpers.update_agent_message_text("\n".join(lines)))
    return PromptResponse(stop_reason="end_turn")


async def fork(runtime: WorkspaceRuntime[AcpWorkspace], session_id: str, send: Send,
               turn_id: int | None) -> PromptResponse:
    """``/fork [N]``: a new session from this one's history; the client opens it with
    ``session/load`` (it is in ``session/list``)."""
    try:
        record = await runtime.manager.fork(session_id, turn_id)
    except SessionBusy as exc:
        raise rpc_error("sessionBusy", str(exc)) from exc
    except (UnknownSession, UnknownTurn) as exc:
        reason = "unknownTurn" if isinstance(exc, UnknownTurn) else "unknownSession"
        raise rpc_error(reason, str(exc)) from exc
    await send(session_id, helpers.update_agent_message_text(
        f"Forked into session {record.session_id} ({record.title!r}); "
        "load it from the session list to continue there."))
    return PromptResponse(stop_reason="end_turn")
