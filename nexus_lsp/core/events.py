"""Session events: everything a turn does, as typed values.

The session emits these to its sinks (``Session.add_sink``). The LSP layer turns
them into ``nexus/session/update`` notifications and ``$/progress``; the store
turns them into rows and transcripts. This is the one documented interface
beyond the eight legacy callbacks (which the session builds on the same events).

Order within one turn (as ``Session.send`` emits them)::

    TurnStarted
    MessageAppended(user)
    ( [ ContextTruncated ]                                       # older messages dropped
      ( ContentDelta | ReasoningChanged )*                       # one model stream
      MessageAppended(assistant)
      [ ToolCallRequested*                                       # one per call, pending
        BatchStarted
          ( ToolCallStatus(running) ToolOutput* ToolCallStatus(completed|failed)
            BatchProgress )*                                     # ToolOutput: run_command
          ToolCallStatus(skipped|cancelled)*                     # calls that never ran
        BatchEnded
        MessageAppended(tool)* ]                                 # one per call, in order
    )*                                                           # per iteration
    TurnEnded                                                    # exactly once

The calls of a parallel batch interleave their ``ToolCallStatus``/``BatchProgress``.
``ReasoningChanged`` comes as start (``active``, no text), text, stop (not
``active``). A turn cut by a cancel or an error appends, before ``TurnEnded``, the
partial answer (``MessageAppended(assistant)`` marked ``cancelled`` or
``interrupted``) and a result for every call still without one. A turn with
``use_context=False`` emits no ``MessageAppended`` or ``ContextTruncated``.

Protocol v2 §4 adds ``UsageReported`` right after each complete
``MessageAppended(assistant)`` and, before a model call when the context would pass
``session.compactAt``, ``CompactionStarted`` ``MessageAppended(summary marker)``
``ContextTruncated`` ``CompactionEnded`` (a forced compaction between turns emits the
same with the last turn's id). A steered prompt enters as ``MessageAppended(user)``
before the model call it joins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nexus_lsp.core.messages import Message, ToolCall, ToolResult, ToolStatus, Usage

__all__ = [
    "BatchEnded",
    "BatchOutcome",
    "BatchProgress",
    "BatchStarted",
    "CompactionEnded",
    "CompactionStarted",
    "ContentDelta",
    "ContextTruncated",
    "EventSink",
    "MessageAppended",
    "ReasoningChanged",
    "SessionEvent",
    "StopReason",
    "ToolCallRecord",
    "ToolCallRequested",
    "ToolCallStatus",
    "ToolOutput",
    "ToolRunStatus",
    "TurnEnded",
    "TurnError",
    "TurnResult",
    "TurnStarted",
    "UsageReported",
]

StopReason = Literal["endTurn", "maxIterations", "cancelled", "error"]
ToolRunStatus = Literal["running", "completed", "failed", "cancelled", "skipped"]
BatchOutcome = Literal["completed", "halted", "cancelled"]


@dataclass(frozen=True, slots=True)
class TurnError:
    """Why a turn ended with ``stopReason: "error"``; ``code`` is a protocol §2 code."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One tool call of a turn and how it ended (the ``toolCalls`` of a send result)."""

    call: ToolCall
    status: ToolStatus
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TurnResult:
    session_id: str
    turn_id: int
    stop_reason: StopReason
    content: str
    tool_calls: tuple[ToolCallRecord, ...] = ()
    usage: Usage | None = None
    error: TurnError | None = None


@dataclass(frozen=True, slots=True)
class TurnStarted:
    turn_id: int
    prompt: str
    attachments: tuple[str, ...] = ()  # one label per attached item (protocol v2 §4)
    type: Literal["turnStarted"] = "turnStarted"


@dataclass(frozen=True, slots=True)
class MessageAppended:
    """A message entered the history at position ``index`` (0 is the system prompt)."""

    turn_id: int
    index: int
    message: Message
    type: Literal["messageAppended"] = "messageAppended"


@dataclass(frozen=True, slots=True)
class ContextTruncated:
    """Messages at these history positions no longer go to the model."""

    turn_id: int
    indexes: tuple[int, ...]
    type: Literal["contextTruncated"] = "contextTruncated"


@dataclass(frozen=True, slots=True)
class ContentDelta:
    turn_id: int
    text: str
    type: Literal["content"] = "content"


@dataclass(frozen=True, slots=True)
class ReasoningChanged:
    """Reasoning started (``active``), continued (``text``) or stopped."""

    turn_id: int
    active: bool
    text: str | None = None
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True)
class ToolCallRequested:
    """The model asked for a tool; its status is ``pending``."""

    turn_id: int
    call: ToolCall
    tool_kind: str | None = None  # the skill's kind (protocol v2 §1); None for unknown tools
    type: Literal["toolCall"] = "toolCall"


@dataclass(frozen=True, slots=True)
class ToolCallStatus:
    turn_id: int
    call: ToolCall
    status: ToolRunStatus
    output: str | None = None
    error: str | None = None
    locations: tuple[str, ...] = ()  # workspace-relative paths the tool touched
    # Extra fields of a final update (run_command: exitCode, signal, durationMs, truncated).
    details: Mapping[str, Any] | None = None
    type: Literal["toolCallUpdate"] = "toolCallUpdate"


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """Text a running tool produced (run_command's output, as it comes)."""

    turn_id: int
    call: ToolCall
    text: str
    type: Literal["toolOutput"] = "toolOutput"


@dataclass(frozen=True, slots=True)
class BatchStarted:
    turn_id: int
    batch_index: int  # 0-based within the turn
    calls: tuple[ToolCall, ...]
    parallel: bool
    type: Literal["batchStarted"] = "batchStarted"


@dataclass(frozen=True, slots=True)
class BatchProgress:
    turn_id: int
    batch_index: int
    result: ToolResult
    done: int
    total: int
    type: Literal["batchProgress"] = "batchProgress"


@dataclass(frozen=True, slots=True)
class BatchEnded:
    turn_id: int
    batch_index: int
    outcome: BatchOutcome
    halted_at: str | None = None  # the tool name that failed, when outcome == "halted"
    type: Literal["batchEnded"] = "batchEnded"


@dataclass(frozen=True, slots=True)
class TurnEnded:
    turn_id: int
    result: TurnResult
    type: Literal["turnEnded"] = "turnEnded"


@dataclass(frozen=True, slots=True)
class UsageReported:
    """After every model call: the prompt's size and the answer's (protocol v2 §4).

    ``used_tokens`` is the prompt's size as the provider reported it, or an estimate
    (``estimated``) when it reported none.
    """

    turn_id: int
    used_tokens: int
    context_tokens: int
    input_tokens: int | None
    output_tokens: int | None
    estimated: bool
    type: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class CompactionStarted:
    """The oldest exchanges are about to be summarised (before a model call, or forced)."""

    turn_id: int
    tokens_before: int
    type: Literal["compactionStarted"] = "compactionStarted"


@dataclass(frozen=True, slots=True)
class CompactionEnded:
    """Compaction finished: ``summary`` replaced the messages at ``indexes``.

    ``summary`` is None when summarising failed or was cancelled: the context was
    truncated instead (v1), and ``fallback`` says why.
    """

    turn_id: int
    tokens_before: int
    tokens_after: int
    summary: str | None
    indexes: tuple[int, ...] = ()
    fallback: str | None = None
    type: Literal["compactionEnded"] = "compactionEnded"


SessionEvent = (
    TurnStarted
    | MessageAppended
    | ContextTruncated
    | ContentDelta
    | ReasoningChanged
    | ToolCallRequested
    | ToolCallStatus
    | ToolOutput
    | BatchStarted
    | BatchProgress
    | BatchEnded
    | TurnEnded
    | UsageReported
    | CompactionStarted
    | CompactionEnded
)

# A sink may be sync or async. One that raises is logged and never breaks the turn.
EventSink = Callable[[SessionEvent], Awaitable[None] | None]
