"""Session events → ACP ``session/update`` notifications, in one place.

:class:`AcpReporter` is a turn's event sink: every event that an ACP client can show
becomes one update (no coalescing: ACP has no ``seq`` and clients render chunks as
they come). :func:`replay` turns a stored history into the same updates for
``session/load``. The mapping is drawn in docs/protocol.md (ACP section).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from acp import helpers
from acp.schema import (
    AgentMessageChunk,
    AgentThoughtChunk,
    ContentToolCallContent,
    FileEditToolCallContent,
    SessionInfoUpdate,
    ToolCallLocation,
    ToolCallProgress,
    ToolCallStart,
    UsageUpdate,
    UserMessageChunk,
)

from nexus_lsp import wire
from nexus_lsp.core.events import (
    CompactionEnded,
    ContentDelta,
    ReasoningChanged,
    SessionEvent,
    ToolCallRequested,
    ToolCallStatus,
    ToolOutput,
    UsageReported,
)
from nexus_lsp.core.messages import Message, ToolCall
from nexus_lsp.host.coalesce import TextCoalescer

__all__ = ["AcpReporter", "Update", "acp_kind", "compaction_note", "replay", "tool_kind"]

log = logging.getLogger(__name__)

Update = (
    AgentMessageChunk
    | AgentThoughtChunk
    | UserMessageChunk
    | ToolCallStart
    | ToolCallProgress
    | UsageUpdate
    | SessionInfoUpdate
)
OUTPUT_TAIL = 64 * 1024  # streamed command output shown while it runs
AcpKind = Literal["read", "edit", "delete", "move", "search", "execute", "other"]

# The ACP tool kind of each built-in tool, for the replay of a stored history (live
# events carry the core's kind, ToolCallRequested.tool_kind).
_KINDS: dict[str, AcpKind] = {
    wire.TOOL_READ_FILE: "read",
    wire.TOOL_LIST_DIRECTORY: "search",
    wire.TOOL_SEARCH_TEXT: "search",
    wire.TOOL_WRITE_FILE: "edit",
    wire.TOOL_EDIT_FILE: "edit",
    wire.TOOL_DELETE_FILE: "delete",
    wire.TOOL_RENAME_FILE: "move",
    "run_command": "execute",
}


_ACP_KINDS = ("read", "edit", "delete", "move", "search", "execute")


def tool_kind(name: str) -> AcpKind:
    """A tool's ACP kind when the event does not carry the core's (a replay)."""
    return _KINDS.get(name, "other")


def acp_kind(kind: str | None) -> AcpKind:
    """The core's tool kind (protocol-v2 §1 uses ACP's words; ACP has no ``mcp``)."""
    return kind if kind in _ACP_KINDS else "other"  # type: ignore[return-value]


def _title(call: ToolCall) -> str:
    args = call.arguments
    target = args.get("path") or args.get("command") or args.get("pattern") or ""
    return f"{call.name} {target}".strip() if isinstance(target, str) else call.name


def _locations(call: ToolCall, root: Path, touched: Iterable[str] = ()) -> list[ToolCallLocation]:
    paths = list(touched)
    for key in ("path", "newPath"):
        value = call.arguments.get(key)
        if isinstance(value, str) and value not in paths:
            paths.append(value)
    return [ToolCallLocation(path=str(root / p)) for p in paths]


def _diff(call: ToolCall, root: Path) -> list[FileEditToolCallContent]:
    """The ACP ``diff`` content of an edit, from the call's own arguments."""
    args = call.arguments
    path = args.get("path")
    if not isinstance(path, str):
        return []
    if call.name == wire.TOOL_EDIT_FILE and isinstance(args.get("newText"), str):
        old = args.get("oldText")
        return [
            helpers.tool_diff_content(
                str(root / path), args["newText"], old if isinstance(old, str) else None
            )
        ]
    if call.name == wire.TOOL_WRITE_FILE and isinstance(args.get("content"), str):
        return [helpers.tool_diff_content(str(root / path), args["content"], None)]
    return []


def _text(text: str) -> list[ContentToolCallContent]:
    return [helpers.tool_content(helpers.text_block(text))] if text else []


def tool_call_start(call: ToolCall, root: Path, kind: str | None = None) -> ToolCallStart:
    return helpers.start_tool_call(
        call.id,
        _title(call),
        kind=acp_kind(kind) if kind is not None else tool_kind(call.name),
        status="pending",
        locations=_locations(call, root),
        raw_input=call.arguments if not call.arguments_error else call.raw_arguments,
    )


def tool_call_end(
    call: ToolCall, root: Path, ok: bool, output: str, touched: Iterable[str] = (),
    details: Mapping[str, Any] | None = None,
) -> ToolCallProgress:
    content: list[Any] = [*(_diff(call, root) if ok else []), *_text(output)]
    raw: dict[str, Any] = {"output": output} if ok else {"error": output}
    return helpers.update_tool_call(
        call.id,
        status="completed" if ok else "failed",
        content=content,
        locations=_locations(call, root, touched),
        raw_output={**raw, **(details or {})},  # run_command: exitCode, durationMs, ...
    )


class AcpReporter:
    """One turn's events as ``session/update`` notifications (an ``EventSink``).

    Streamed text is coalesced (:class:`~nexus_lsp.host.coalesce.TextCoalescer`, the
    LSP door's window): thousands of one-word chunks would cost more than the turn.
    :meth:`aclose` sends what is pending; call it when the turn is over.

    A compaction (ACP has no update for it) is a one-line note with the sizes, then a
    ``usage_update`` of the smaller context: an ``agent_thought_chunk`` during a turn
    (it is not the answer), an ``agent_message_chunk`` for ``/compact`` (``notes``),
    whose answer it is.
    """

    def __init__(self, send: Any, session_id: str, root: Path, context_tokens: int,
                 notes: Literal["thought", "message"] = "thought") -> None:
        self._send = send  # async (session_id, update) -> None
        self._session_id = session_id
        self._root = root
        self._context_tokens = context_tokens
        self._notes = notes
        self._text = TextCoalescer(self._send_text)
        self.answered: set[str] = set()  # tool calls with a final status
        self.started: dict[str, ToolCall] = {}
        self._outputs: dict[str, str] = {}  # run_command output streamed so far

    async def __call__(self, event: SessionEvent) -> None:
        if isinstance(event, ContentDelta):
            await self._text.add("message", event.text)
            return
        if isinstance(event, ReasoningChanged):
            await self._text.add("thought", event.text or "")
            return
        if isinstance(event, CompactionEnded):
            await self._text.flush()
            await self._send_text(self._notes, compaction_note(event))
            await self._send(self._session_id, UsageUpdate(
                session_update="usage_update", used=event.tokens_after, size=self._context_tokens))
            return
        update = self._update(event)
        if update is not None:
            await self._text.flush()
            await self._send(self._session_id, update)

    async def aclose(self) -> None:
        await self._text.aclose()

    async def _send_text(self, kind: str, text: str) -> None:
        update: Update = (helpers.update_agent_message_text(text) if kind == "message"
                          else helpers.update_agent_thought_text(text))
        await self._send(self._session_id, update)

    def _update(self, event: SessionEvent) -> Update | None:
        if isinstance(event, ToolCallRequested):
            self.started[event.call.id] = event.call
            return tool_call_start(event.call, self._root, event.tool_kind)
        if isinstance(event, ToolOutput):
            return self._output(event)
        if isinstance(event, ToolCallStatus):
            return self._status(event)
        if isinstance(event, UsageReported):
            # each model call's prompt size, as the provider reported it (or estimated)
            return UsageUpdate(session_update="usage_update", used=event.used_tokens,
                               size=event.context_tokens)
        return None

    def _output(self, event: ToolOutput) -> Update:
        """A command's output so far (ACP replaces a tool call's content: the tail)."""
        so_far = self._outputs.get(event.call.id, "") + event.text
        so_far = so_far[-OUTPUT_TAIL:]
        self._outputs[event.call.id] = so_far
        return helpers.update_tool_call(event.call.id, content=_text(so_far))

    def _status(self, event: ToolCallStatus) -> Update:
        if event.status == "running":
            return helpers.update_tool_call(event.call.id, status="in_progress")
        self.answered.add(event.call.id)
        if event.status == "completed":
            return tool_call_end(event.call, self._root, True, event.output or "",
                                 event.locations, event.details)
        why = event.error or event.output or event.status
        return tool_call_end(event.call, self._root, False, why, event.locations, event.details)


def compaction_note(event: CompactionEnded) -> str:
    """The line a client shows for a compaction (sizes in tokens, the summary's in chars)."""
    sizes = f"{event.tokens_before:,} → {event.tokens_after:,} tokens"
    if event.summary is not None:
        return (f"[Context compacted: {len(event.indexes)} messages summarised in "
                f"{len(event.summary):,} characters; {sizes}]\n")
    why = event.fallback or "no summary"
    return f"[Context compacted: {why}; {sizes}]\n"


def title_update(title: str) -> SessionInfoUpdate:
    return SessionInfoUpdate(session_update="session_info_update", title=title)


def replay(messages: Iterable[Message], root: Path) -> list[Update]:
    """A stored history (system prompt excluded) as the updates a live turn sent."""
    calls: dict[str, ToolCall] = {}
    out: list[Update] = []
    for message in messages:
        if message.role == "user":
            out.append(helpers.update_user_message_text(message.content))
        elif message.role == "assistant":
            if message.content:
                out.append(helpers.update_agent_message_text(message.content))
            for call in message.tool_calls:
                calls[call.id] = call
                out.append(tool_call_start(call, root))
        elif message.role == "tool" and message.tool_call_id is not None:
            asked = calls.get(message.tool_call_id)
            if asked is not None:
                out.append(tool_call_end(asked, root, not message.is_error, message.content))
    return out
