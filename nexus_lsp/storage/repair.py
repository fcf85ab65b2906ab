"""Closing an interrupted turn when a session is loaded back.

A crash (or a kill) can end a turn after the assistant asked for tools and before
every result was stored. Providers reject a tool call without a result, so
:func:`repair_history` gives each such call an error result,
``"<tool>: interrupted: the session ended before this tool call finished"``, right
after the results its batch did get. Writes are ordered and each flush is one
transaction, so a crash only ever loses a *suffix*: the new results normally take
the next positions. Anything else (a gap in the positions, a missing system
prompt, calls left open in the middle) is also fixed, and then the whole history
is renumbered (``rewrite``). Results without a call are left as they are: the
session's context drops them from requests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from nexus_lsp.core.messages import Message, ToolCall, ToolResult
from nexus_lsp.errors import ToolError
from nexus_lsp.storage.records import StoredMessage

__all__ = ["INTERRUPTED_DETAIL", "Repair", "interrupted_result", "repair_history"]

INTERRUPTED_DETAIL = "the session ended before this tool call finished"


@dataclass(frozen=True)
class Repair:
    messages: list[StoredMessage]  # the whole history, ``ord`` == position
    added: list[StoredMessage]  # new rows: interrupted results, a lost system prompt
    rewrite: bool  # positions changed: store ``messages`` anew
    problems: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.added) or self.rewrite


def interrupted_result(call: ToolCall) -> Message:
    error = ToolError("interrupted", INTERRUPTED_DETAIL).for_tool(call.name)
    return ToolResult(call.id, call.name, status="failed", error=error).to_message()


def repair_history(rows: Sequence[StoredMessage], system_prompt: str, at: str) -> Repair:
    """The repaired history of ``rows`` (sorted by ``ord``); ``at`` stamps new rows."""
    problems: list[str] = []
    source = sorted(rows, key=lambda r: r.ord)
    entries: list[tuple[StoredMessage, bool]] = []  # (message, new row)
    if not source or source[0].ord != 0 or source[0].message.role != "system":
        problems.append("the system prompt was missing from the history")
        entries.append((StoredMessage(0, 0, Message.system(system_prompt), True, at), True))
    pending: list[ToolCall] = []
    pending_turn = 0
    moved = False

    def close_pending() -> None:
        for call in pending:
            problems.append(f"tool call {call.id!r} ({call.name}) had no result")
            result = StoredMessage(-1, pending_turn, interrupted_result(call), True, at)
            entries.append((result, True))
        pending.clear()

    for row in source:
        message = row.message
        if message.role == "tool":
            pending[:] = [c for c in pending if c.id != message.tool_call_id]
            entries.append((row, False))
            continue
        if pending:
            moved = True  # results inserted in the middle: later rows move
            close_pending()
        entries.append((row, False))
        if message.role == "assistant" and message.tool_calls:
            pending = list(message.tool_calls)
            pending_turn = row.turn
    close_pending()

    history: list[StoredMessage] = []
    added: list[StoredMessage] = []
    for position, (row, synthesized) in enumerate(entries):
        if row.ord != position:
            if not synthesized:
                moved = True
            row = dataclasses.replace(row, ord=position)
        history.append(row)
        if synthesized:
            added.append(row)
    if moved:
        problems.append("message positions renumbered")
    return Repair(history, added, moved, problems)
