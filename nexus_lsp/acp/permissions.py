"""Permission modes and questions over ACP (protocol v2 §1, §6).

- The five permission modes are the session's ACP modes (``modes`` of
  ``session/new``/``load``/``resume``, ``session/set_mode``, ``current_mode_update``)
  and, for clients that use config options, one ``select`` option with category
  ``mode`` (``session/set_config_option``).
- :class:`AcpPermissionAsker` is the gate's asker: a question is
  ``session/request_permission`` with the gate's four options, whose ids and kinds are
  ACP's option kinds already (``allow_once``, ``allow_always``, ``reject_once``,
  ``reject_always``). A cancelled turn stops waiting; ACP has the client answer a
  pending question ``cancelled`` itself when it sends ``session/cancel``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from acp import Client
from acp.schema import (
    AllowedOutcome,
    PermissionOption,
    SessionConfigOptionSelect,
    SessionConfigSelectOption,
    SessionMode,
    SessionModeState,
    ToolCallUpdate,
)

from nexus_lsp.acp.updates import acp_kind
from nexus_lsp.config import PERMISSION_MODES, PermissionMode
from nexus_lsp.permissions.gate import PermissionAnswer, PermissionQuestion

__all__ = ["MODE_CONFIG_ID", "AcpPermissionAsker", "config_options", "mode_state"]

log = logging.getLogger(__name__)

MODE_CONFIG_ID = "mode"
MODE_TEXT: dict[str, tuple[str, str]] = {
    "default": ("Default", "Reads and edits run (you can undo edits); commands are asked"),
    "plan": ("Plan", "Read and search only: edits and commands are refused"),
    "acceptEdits": ("Accept edits", "Like Default, and edits are never confirmed"),
    "strict": ("Strict", "Only reads run; every edit and command is asked"),
    "auto": ("Auto", "Everything runs unasked (deny rules still apply)"),
}


def mode_state(current: PermissionMode) -> SessionModeState:
    return SessionModeState(
        current_mode_id=current,
        available_modes=[
            SessionMode(id=mode, name=MODE_TEXT[mode][0], description=MODE_TEXT[mode][1])
            for mode in PERMISSION_MODES
        ],
    )


def config_options(current: PermissionMode) -> list[SessionConfigOptionSelect]:
    return [SessionConfigOptionSelect(
        id=MODE_CONFIG_ID, name="Permission mode", category="mode", type="select",
        current_value=current,
        options=[SessionConfigSelectOption(value=m, name=MODE_TEXT[m][0],
                                           description=MODE_TEXT[m][1])
                 for m in PERMISSION_MODES],
    )]


class AcpPermissionAsker:
    def __init__(self, client: Client) -> None:
        self._client = client

    async def ask(self, question: PermissionQuestion) -> PermissionAnswer:
        tool_call = ToolCallUpdate(
            tool_call_id=question.call.id, title=question.title,
            kind=acp_kind(question.kind), status="pending",
            raw_input=dict(question.arguments),
        )
        options = [PermissionOption(option_id=o.option_id, name=o.name, kind=o.kind)  # type: ignore[arg-type]
                   for o in question.options]
        try:
            answer: Any = await self._client.request_permission(
                session_id=question.session_id, tool_call=tool_call, options=options)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # the client answered with an error: not a yes
            log.warning("session/request_permission for %s failed: %s", question.call.name, exc)
            return PermissionAnswer("cancelled")
        outcome = getattr(answer, "outcome", None)
        if isinstance(outcome, AllowedOutcome):
            return PermissionAnswer("selected", outcome.option_id)
        return PermissionAnswer("cancelled")
