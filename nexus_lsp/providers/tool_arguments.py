"""Tool-call arguments as the model streamed them: text fragments, then one object.

A model may stream arguments that are not a JSON object (cut off at the token limit,
a small local model's slip). They are never run as ``{}``: the call keeps the text
and says what is wrong, and the session answers it with a tool error that asks the
model to try again.
"""

from __future__ import annotations

import json
import uuid

from nexus_lsp.core.messages import ToolCall

__all__ = ["decode_tool_call", "new_call_id"]


def new_call_id() -> str:
    """An id for a call the API sent without one (some local servers do)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def decode_tool_call(call_id: str, name: str, text: str) -> ToolCall:
    """Build the call from its complete argument text."""
    if not text.strip():
        # Tools without parameters: APIs send "" as often as "{}".
        return ToolCall(id=call_id, name=name, arguments={})
    try:
        value = json.loads(text)
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return ToolCall(id=call_id, name=name, raw_arguments=text,
                        arguments_error=f"the arguments are not valid JSON ({reason})")
    if not isinstance(value, dict):
        return ToolCall(id=call_id, name=name, raw_arguments=text,
                        arguments_error="the arguments must be a JSON object, "
                                        f"not {_json_kind(value)}")
    return ToolCall(id=call_id, name=name, arguments=value)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"
