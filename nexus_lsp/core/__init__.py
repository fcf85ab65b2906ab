"""Core values shared by every layer: messages, stream and session events, cancellation."""

from nexus_lsp.core.cancel import CancellationToken, Cancelled, race
from nexus_lsp.core.messages import (
    Message,
    Role,
    ToolCall,
    ToolDefinition,
    ToolResult,
    ToolStatus,
    Usage,
)
from nexus_lsp.core.stream import (
    FinishReason,
    ReasoningDelta,
    StreamComplete,
    StreamEvent,
    TextDelta,
    ToolCallStarted,
)

__all__ = [
    "CancellationToken",
    "Cancelled",
    "FinishReason",
    "Message",
    "ReasoningDelta",
    "Role",
    "StreamComplete",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallStarted",
    "ToolDefinition",
    "ToolResult",
    "ToolStatus",
    "Usage",
    "race",
]
