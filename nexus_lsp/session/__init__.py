"""The session core: context, tool batches and the turn loop (no LSP here)."""

from nexus_lsp.session.callbacks import (
    BatchCompleteCallback,
    BatchHaltCallback,
    BatchProgressCallback,
    BatchStartCallback,
    ReasoningCallback,
    SessionCallbacks,
    ToolActiveCallback,
    ToolCallCallback,
    ToolCompleteCallback,
)
from nexus_lsp.session.context import Context, repair
from nexus_lsp.session.session import Session, new_session_id

__all__ = [
    "BatchCompleteCallback",
    "BatchHaltCallback",
    "BatchProgressCallback",
    "BatchStartCallback",
    "Context",
    "ReasoningCallback",
    "Session",
    "SessionCallbacks",
    "ToolActiveCallback",
    "ToolCallCallback",
    "ToolCompleteCallback",
    "new_session_id",
    "repair",
]
