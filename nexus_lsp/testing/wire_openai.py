"""The OpenAI chat-completions wire format of the scripted model server.

Renders a :class:`~nexus_lsp.testing.script.ScriptedResponse` as the chunks
``POST /v1/chat/completions`` streams (or as one ``chat.completion`` body), shapes
error bodies like OpenAI's, and validates requests the way the real API does where
it matters for a session: every assistant ``tool_calls`` id must be answered by the
``tool`` messages that follow it, and no ``tool`` message may answer a call that was
not made.
"""

from __future__ import annotations

import json
import time
from typing import Any

from nexus_lsp.testing.script import Piece, ScriptedResponse

__all__ = ["OpenAIRenderer", "openai_error_body", "validate_openai_request"]

_FINISH = {"stop": "stop", "length": "length", "toolCalls": "tool_calls"}
_ROLES = {"system", "developer", "user", "assistant", "tool"}


def openai_error_body(status: int, message: str) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "invalid_request_error",
        429: "rate_limit_exceeded",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def validate_openai_request(body: Any) -> str | None:
    """The error message the real API would answer with (HTTP 400), or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Invalid 'messages': expected a non-empty array."
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not tools):
        return "Invalid 'tools': empty array. Expected an array with minimum length 1."
    pending: dict[str, int] = {}  # tool_call ids still waiting for their tool message
    answerable: set[str] = set()  # ids of the assistant message the tool messages follow
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return f"Invalid value for 'messages[{i}].role': expected one of {sorted(_ROLES)}."
        role = message["role"]
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in answerable:
                return (
                    f"Invalid parameter: messages[{i}]: messages with role 'tool' must be a "
                    "response to a preceding message with 'tool_calls' "
                    f"(unknown tool_call_id {call_id!r})."
                )
            pending.pop(call_id, None)
            continue
        if pending:
            return _unanswered(pending)
        answerable = set()
        if role == "assistant":
            for j, call in enumerate(message.get("tool_calls") or []):
                problem = _check_call(call, f"messages[{i}].tool_calls[{j}]")
                if problem:
                    return problem
                pending[call["id"]] = i
                answerable.add(call["id"])
            if message.get("content") is None and not message.get("tool_calls"):
                return (
                    f"Invalid value for 'messages[{i}].content': an assistant message "
                    "needs content or tool_calls."
                )
        elif not isinstance(message.get("content"), (str, list)):
            return f"Invalid type for 'messages[{i}].content': expected a string or an array."
    if pending:
        return _unanswered(pending)
    return None


def _check_call(call: Any, where: str) -> str | None:
    if not isinstance(call, dict) or not isinstance(call.get("id"), str):
        return f"Missing required parameter: '{where}.id'."
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        return f"Missing required parameter: '{where}.function.name'."
    if not isinstance(function.get("arguments"), str):
        return f"Invalid type for '{where}.function.arguments': expected a string."
    return None


def _unanswered(pending: dict[str, int]) -> str:
    index = min(pending.values())
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages "
        "responding to each 'tool_call_id'. The following tool_call_ids did not have "
        f"response messages: {', '.join(pending)} (messages[{index}])"
    )


class OpenAIRenderer:
    """Turns one scripted response into OpenAI chunks or a whole completion."""

    def __init__(self, response: ScriptedResponse, *, model: str, position: int,
                 input_tokens: int, output_tokens: int, include_usage: bool) -> None:
        self._response = response
        self._model = model
        self._id = f"chatcmpl-scripted-{position}"
        self._created = int(time.time())
        self._usage = {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }
        self._include_usage = include_usage
        self._position = position

    def opening(self) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def piece(self, piece: Piece) -> list[bytes]:
        if piece.kind == "text":
            return [self._chunk({"content": piece.text})]
        if piece.kind == "reasoning":
            return [self._chunk({"reasoning_content": piece.text})]
        call: dict[str, Any] = {"index": piece.tool_index}
        if piece.kind == "toolStart":
            call |= {"id": piece.tool_id, "type": "function",
                     "function": {"name": piece.tool_name, "arguments": ""}}
        else:
            call["function"] = {"arguments": piece.text}
        return [self._chunk({"tool_calls": [call]})]

    def closing(self) -> list[bytes]:
        finish = _FINISH[self._response.stop_reason()]
        out = [self._chunk({}, finish_reason=finish)]
        if self._include_usage:
            out.append(self._event({**self._base(), "choices": [], "usage": self._usage}))
        out.append(b"data: [DONE]\n\n")
        return out

    @staticmethod
    def malformed() -> bytes:
        return b'data: {"choices": [{"index": 0, "delta": {"content": "unterminated\n\n'

    @staticmethod
    def error_body(message: str) -> dict[str, Any]:
        return openai_error_body(500, message)

    @classmethod
    def error_event(cls, message: str) -> bytes:
        """The error an OpenAI-compatible server sends mid-stream: a data line, no event."""
        return cls._event(cls.error_body(message))

    def whole(self) -> dict[str, Any]:
        response = self._response
        message: dict[str, Any] = {"role": "assistant", "content": response.text or None}
        if response.reasoning:
            message["reasoning_content"] = response.reasoning
        if response.tool_calls:
            message["tool_calls"] = [
                {"id": call.id or f"call_{self._position}_{index}", "type": "function",
                 "function": {"name": call.name, "arguments": call.arguments_text()}}
                for index, call in enumerate(response.tool_calls)
            ]
        choice = {"index": 0, "message": message, "logprobs": None,
                  "finish_reason": _FINISH[response.stop_reason()]}
        return {**self._base("chat.completion"), "choices": [choice], "usage": self._usage}

    def _base(self, kind: str = "chat.completion.chunk") -> dict[str, Any]:
        return {"id": self._id, "object": kind, "created": self._created, "model": self._model}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._event({**self._base(), "choices": [choice]})

    @staticmethod
    def _event(data: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(data)}\n\n".encode()
