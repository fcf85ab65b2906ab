"""The Anthropic Messages wire format of the scripted model server.

Renders a :class:`~nexus_lsp.testing.script.ScriptedResponse` as the SSE events of
``POST /v1/messages`` (``message_start``, ``ping``, ``content_block_*``,
``message_delta``, ``message_stop``) or as one ``message`` body, shapes error
bodies like Anthropic's, and validates requests as the real API does for what a
session can get wrong: roles must alternate starting with ``user``, text blocks
must not be empty, every ``tool_use`` needs its ``tool_result`` in the very next
user message, and every ``tool_result`` must answer a ``tool_use`` of the message
just before.
"""

from __future__ import annotations

import json
from typing import Any

from nexus_lsp.testing.script import Piece, ScriptedResponse

__all__ = ["AnthropicRenderer", "anthropic_error_body", "validate_anthropic_request"]

_STOP = {"stop": "end_turn", "length": "max_tokens", "toolCalls": "tool_use"}


def anthropic_error_body(status: int, message: str) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def validate_anthropic_request(body: Any) -> str | None:
    """The error message the real API would answer with (HTTP 400), or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        return "system: Input should be a valid string or a list of text blocks"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    previous_role = None
    previous_tool_uses: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return (
                f"messages.{i}.role: Input should be 'user' or 'assistant' "
                "(a system prompt goes in the top-level 'system' parameter)"
            )
        role = message["role"]
        if i == 0 and role != "user":
            return "messages: first message must use the \"user\" role"
        if role == previous_role:
            return (
                f'messages.{i}: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
        blocks = _blocks(message.get("content"))
        if blocks is None:
            return f"messages.{i}.content: Input should be a valid string or list of blocks"
        if not blocks and not (role == "assistant" and i == len(messages) - 1):
            return (
                f"messages.{i}: all messages must have non-empty content except for "
                "the optional final assistant message"
            )
        for j, block in enumerate(blocks):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                return f"messages.{i}.content.{j}: each block needs a type"
            if block["type"] == "text" and not block.get("text"):
                return f"messages.{i}.content.{j}.text: text content blocks must be non-empty"
        results = [b.get("tool_use_id") for b in blocks if b["type"] == "tool_result"]
        if role == "user":
            missing = [u for u in previous_tool_uses if u not in results]
            if missing:
                return (
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must "
                    "have a corresponding `tool_result` block in the next message."
                )
            unexpected = [r for r in results if r not in previous_tool_uses]
            if unexpected:
                return (
                    f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {', '.join(map(str, unexpected))}. Each `tool_result` block "
                    "must have a corresponding `tool_use` block in the previous message."
                )
            previous_tool_uses = []
        else:
            if results:
                return f"messages.{i}: `tool_result` blocks can only be in user messages"
            previous_tool_uses = [b.get("id") for b in blocks if b["type"] == "tool_use"]
        previous_role = role
    if previous_tool_uses:
        return (
            f"messages.{len(messages) - 1}: `tool_use` ids were found without `tool_result` "
            f"blocks immediately after: {', '.join(map(str, previous_tool_uses))}. Each "
            "`tool_use` block must have a corresponding `tool_result` block in the next message."
        )
    return None


def _blocks(content: Any) -> list[Any] | None:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return content
    return None


class AnthropicRenderer:
    """Turns one scripted response into Anthropic SSE events or a whole message."""

    def __init__(self, response: ScriptedResponse, *, model: str, position: int,
                 input_tokens: int, output_tokens: int) -> None:
        self._response = response
        self._model = model
        self._id = f"msg_scripted_{position}"
        self._input_tokens = input_tokens
        self._output_tokens = output_tokens
        self._position = position
        self._block = -1  # index of the open content block
        self._open_kind: str | None = None

    def opening(self) -> list[bytes]:
        message: dict[str, Any] = {
            "id": self._id, "type": "message", "role": "assistant", "model": self._model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self._input_tokens, "output_tokens": 1},
        }
        return [
            _event("message_start", {"type": "message_start", "message": message}),
            _event("ping", {"type": "ping"}),
        ]

    def piece(self, piece: Piece) -> list[bytes]:
        out: list[bytes] = []
        if piece.kind == "toolStart" or piece.kind != self._open_kind:
            out += self._close_block()
            self._block += 1
            self._open_kind = piece.kind if piece.kind != "toolStart" else "toolArguments"
            block: dict[str, Any] = {
                "reasoning": {"type": "thinking", "thinking": "", "signature": ""},
                "text": {"type": "text", "text": ""},
            }.get(piece.kind) or {
                "type": "tool_use", "id": piece.tool_id, "name": piece.tool_name, "input": {},
            }
            out.append(_event("content_block_start", {
                "type": "content_block_start", "index": self._block, "content_block": block,
            }))
            if piece.kind == "toolStart":
                return out
        delta = {
            "reasoning": {"type": "thinking_delta", "thinking": piece.text},
            "text": {"type": "text_delta", "text": piece.text},
            "toolArguments": {"type": "input_json_delta", "partial_json": piece.text},
        }[piece.kind]
        out.append(_event("content_block_delta", {
            "type": "content_block_delta", "index": self._block, "delta": delta,
        }))
        return out

    def closing(self) -> list[bytes]:
        return [
            *self._close_block(),
            _event("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": _STOP[self._response.stop_reason()],
                          "stop_sequence": None},
                "usage": {"output_tokens": self._output_tokens},
            }),
            _event("message_stop", {"type": "message_stop"}),
        ]

    @staticmethod
    def malformed() -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n'

    @staticmethod
    def error_body(message: str) -> dict[str, Any]:
        return anthropic_error_body(529, message)

    @classmethod
    def error_event(cls, message: str) -> bytes:
        """Anthropic's mid-stream error: ``event: error`` (e.g. overloaded)."""
        return _event("error", cls.error_body(message))

    def whole(self) -> dict[str, Any]:
        response = self._response
        content: list[dict[str, Any]] = []
        if response.reasoning:
            content.append({"type": "thinking", "thinking": response.reasoning,
                            "signature": "scripted"})
        if response.text:
            content.append({"type": "text", "text": response.text})
        for index, call in enumerate(response.tool_calls):
            text = call.arguments_text()
            try:
                arguments = json.loads(text) if text else {}
            except json.JSONDecodeError:
                arguments = {"_raw": text}  # the whole-body format cannot carry bad JSON
            content.append({"type": "tool_use", "id": call.id or f"call_{self._position}_{index}",
                            "name": call.name, "input": arguments})
        return {
            "id": self._id, "type": "message", "role": "assistant", "model": self._model,
            "content": content, "stop_reason": _STOP[response.stop_reason()],
            "stop_sequence": None,
            "usage": {"input_tokens": self._input_tokens, "output_tokens": self._output_tokens},
        }

    def _close_block(self) -> list[bytes]:
        if self._open_kind is None:
            return []
        out = []
        if self._open_kind == "reasoning":
            out.append(_event("content_block_delta", {
                "type": "content_block_delta", "index": self._block,
                "delta": {"type": "signature_delta", "signature": "scripted-signature"},
            }))
        out.append(_event("content_block_stop",
                          {"type": "content_block_stop", "index": self._block}))
        self._open_kind = None
        return out


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
