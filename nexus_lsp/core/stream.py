"""Stream events: what a provider yields while the model answers.

Small frozen dataclasses with a ``type`` literal. A well-formed stream is any
number of deltas followed by exactly one :class:`StreamComplete`; a provider that
cannot finish raises a :class:`~nexus_lsp.errors.ProviderError` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nexus_lsp.core.messages import Message, Usage

__all__ = [
    "FinishReason",
    "ReasoningDelta",
    "StreamComplete",
    "StreamEvent",
    "TextDelta",
    "ToolCallStarted",
]

# "toolCalls": the model wants tools run; "length": it hit its output limit.
FinishReason = Literal["stop", "toolCalls", "length", "other"]


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The model began a tool call (its arguments are still streaming)."""

    index: int
    id: str
    name: str
    type: Literal["toolCallStarted"] = "toolCallStarted"


@dataclass(frozen=True, slots=True)
class StreamComplete:
    """The model finished: the whole assistant message, usage and why it stopped."""

    message: Message
    usage: Usage | None = None
    finish_reason: FinishReason = "stop"
    type: Literal["complete"] = "complete"


StreamEvent = TextDelta | ReasoningDelta | ToolCallStarted | StreamComplete
