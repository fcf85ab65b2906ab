"""Messages, tool calls, tool results and usage: the history a session keeps.

Provider-neutral: each provider translates these to and from its wire format.
All are frozen; a session builds new values instead of mutating history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "SUMMARY_NAME",
    "Message",
    "Role",
    "ToolCall",
    "ToolDefinition",
    "ToolResult",
    "ToolStatus",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]
# The ``name`` of a ``system`` message in the history that holds a compaction summary
# (protocol v2 §4; ``nexus/session/load`` shows it so).
SUMMARY_NAME = "compaction"
ToolStatus = Literal["completed", "failed", "cancelled", "skipped"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for.

    ``arguments`` is the decoded JSON object. When the model sent arguments that are
    not a JSON object, ``arguments`` is empty, ``raw_arguments`` keeps what was
    sent and ``arguments_error`` says what is wrong: the call is answered with a tool
    error asking the model to retry, never run with ``{}``.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None
    arguments_error: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The answer to one :class:`ToolCall`: output or error, never ``None`` content."""

    tool_call_id: str
    name: str
    output: str = ""
    error: str | None = None
    status: ToolStatus = "completed"

    @property
    def content(self) -> str:
        """What the model reads: the error text when the call failed."""
        return self.error if self.error is not None else self.output

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    def to_message(self) -> Message:
        return Message(
            role="tool",
            content=self.content,
            tool_call_id=self.tool_call_id,
            name=self.name,
            is_error=not self.ok,
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One entry of the history.

    ``cancelled`` marks an assistant message whose stream was cut by a cancel: its
    text is what arrived before the cancel. ``interrupted`` marks one cut by an
    error instead (a provider failure, a stream that ended early, a failed turn).
    ``is_error`` marks a tool result that reports a failure (Anthropic's ``is_error``).
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    cancelled: bool = False
    is_error: bool = False
    interrupted: bool = False

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(role="system", content=text)

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", content=text)

    @classmethod
    def assistant(cls, text: str, tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        return cls(role="assistant", content=text, tool_calls=tool_calls)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the provider; ``None`` where it said nothing."""

    input_tokens: int | None = None
    output_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        def add(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return Usage(add(self.input_tokens, other.input_tokens),
                     add(self.output_tokens, other.output_tokens))


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """What a provider tells the model about a tool; ``parameters`` is a JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]
