"""The eight legacy callbacks, built on session events.

Kept for code written against the seed design. Each is an attribute of
:class:`SessionCallbacks` that can be replaced at any time; each call is wrapped
so that a raising callback is logged and never breaks the turn. New code should
subscribe to the typed events with ``Session.add_sink`` instead: they carry
everything these do, plus content text, status changes and the turn's end.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nexus_lsp.core.events import (
    BatchEnded,
    BatchProgress,
    BatchStarted,
    ReasoningChanged,
    SessionEvent,
    ToolCallRequested,
    ToolCallStatus,
)
from nexus_lsp.core.messages import ToolCall

__all__ = [
    "BatchCompleteCallback",
    "BatchHaltCallback",
    "BatchProgressCallback",
    "BatchStartCallback",
    "ReasoningCallback",
    "SessionCallbacks",
    "ToolActiveCallback",
    "ToolCallCallback",
    "ToolCompleteCallback",
]

log = logging.getLogger(__name__)

ToolCallCallback = Callable[[str, str], None]  # (tool name, tool call id)
ReasoningCallback = Callable[[bool], None]  # True when reasoning starts, False when it ends
BatchStartCallback = Callable[[tuple[ToolCall, ...]], None]  # every call of the batch
ToolActiveCallback = Callable[[str, str], None]  # (name, id): the tool starts running
BatchProgressCallback = Callable[[str, str, bool, str | None], None]  # (name, id, ok, error)
BatchHaltCallback = Callable[[], None]  # a sequential batch stopped at a failure
BatchCompleteCallback = Callable[[], None]  # every tool of the batch has finished
# Deprecated: use on_batch_progress. Receives (name, id, ok, error) like it; the
# seed's three-argument form (name, id, ok) is still called, with a warning.
ToolCompleteCallback = (
    Callable[[str, str, bool, str | None], None] | Callable[[str, str, bool], None]
)


@dataclass
class SessionCallbacks:
    on_tool_call: ToolCallCallback | None = None
    on_reasoning: ReasoningCallback | None = None
    on_batch_start: BatchStartCallback | None = None
    on_tool_active: ToolActiveCallback | None = None
    on_batch_progress: BatchProgressCallback | None = None
    on_batch_halt: BatchHaltCallback | None = None
    on_batch_complete: BatchCompleteCallback | None = None
    on_tool_complete: ToolCompleteCallback | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "on_tool_complete" and value is not None:
            arity = _tool_complete_arity(value)
            if arity == 3:
                message = ("on_tool_complete is deprecated; use on_batch_progress. This "
                           "three-argument (name, id, ok) form is called without the error "
                           "text")
            else:
                message = "on_tool_complete is deprecated; use on_batch_progress"
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            object.__setattr__(self, "_tool_complete_arity", arity)
        super().__setattr__(name, value)

    def dispatch(self, event: SessionEvent) -> None:
        """Call the callbacks this event concerns."""
        if isinstance(event, ToolCallRequested):
            _safe(self.on_tool_call, event.call.name, event.call.id)
        elif isinstance(event, ReasoningChanged) and event.text is None:
            _safe(self.on_reasoning, event.active)
        elif isinstance(event, BatchStarted):
            _safe(self.on_batch_start, event.calls)
        elif isinstance(event, ToolCallStatus) and event.status == "running":
            _safe(self.on_tool_active, event.call.name, event.call.id)
        elif isinstance(event, BatchProgress):
            result = event.result
            _safe(self.on_batch_progress, result.name, result.tool_call_id, result.ok, result.error)
            legacy = (result.name, result.tool_call_id, result.ok, result.error)
            arity = getattr(self, "_tool_complete_arity", 4)
            _safe(self.on_tool_complete, *legacy[:arity])
        elif isinstance(event, BatchEnded):
            if event.outcome == "halted":
                _safe(self.on_batch_halt)
            _safe(self.on_batch_complete)


def _tool_complete_arity(callback: Any) -> int:
    """How many of (name, id, ok, error) ``callback`` takes: 4, or 3 (the seed's form).

    Refuses, when it is set rather than at the first tool, a callback that takes
    neither: called with the wrong count it would raise on every tool, and the
    error would only be logged.
    """
    if not callable(callback):
        raise TypeError(f"on_tool_complete must be callable, not {type(callback).__name__}")
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # some builtins have none: trust the caller
        return 4
    for arity in (4, 3):
        try:
            signature.bind(*range(arity))
        except TypeError:
            continue
        return arity
    raise TypeError(
        f"on_tool_complete must accept (name, id, ok, error) — or the deprecated "
        f"(name, id, ok); {callback!r} has the signature {signature}"
    )


def _safe(callback: Callable[..., None] | None, *args: Any) -> None:
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        log.exception("session callback %r raised; the turn goes on", callback)
