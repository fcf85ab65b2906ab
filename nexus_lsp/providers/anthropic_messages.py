"""The Anthropic provider: ``POST {baseUrl}/v1/messages`` (Messages API, streamed).

The history is reshaped for what the Messages API insists on: the system prompt
goes in ``system``; roles alternate, so consecutive messages of one role merge
(tool results become ``tool_result`` blocks of the next user message, before any
text); assistant tool calls are ``tool_use`` blocks; empty text blocks are left
out (the API refuses them), and a message left with no block at all is dropped.
Reasoning streams as ``thinking_delta``; ``signature_delta`` and unknown event
types are ignored; an ``error`` event is mapped by its error type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from nexus_lsp.config import ProviderSettings
from nexus_lsp.core.messages import Message, ToolCall, ToolDefinition, Usage
from nexus_lsp.core.stream import (
    FinishReason,
    ReasoningDelta,
    StreamComplete,
    StreamEvent,
    TextDelta,
    ToolCallStarted,
)
from nexus_lsp.errors import ProviderBadRequestError, ProviderProtocolError
from nexus_lsp.providers.api_errors import api_error
from nexus_lsp.providers.base import RawLogger
from nexus_lsp.providers.http import HttpProvider
from nexus_lsp.providers.retry import RetryPolicy
from nexus_lsp.providers.tool_arguments import decode_tool_call, new_call_id

__all__ = ["AnthropicMessagesProvider", "AnthropicStreamDecoder", "anthropic_messages"]

API_NAME = "Anthropic API"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 8192
_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "toolCalls",
    "max_tokens": "length",
}


class AnthropicMessagesProvider(HttpProvider):
    api_name: ClassVar[str] = API_NAME

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        api_key: str | None,
        raw_logger: RawLogger | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        super().__init__(settings, api_key=api_key, raw_logger=raw_logger,
                         transport=transport, retry=retry)
        self.max_tokens = max_tokens

    @property
    def url(self) -> str:
        base = self.settings.base_url.rstrip("/")
        # Accept a base URL given with or without the version segment.
        return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"

    def _headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def _body(
        self, messages: Sequence[Message], tools: Sequence[ToolDefinition], *, stream: bool
    ) -> dict[str, Any]:
        system, wire = anthropic_messages(messages)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": wire,
            "stream": stream,
        }
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in tools
            ]
        return body

    def _decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def _whole(self, body: Any) -> StreamComplete:
        if not isinstance(body, dict):
            raise ProviderProtocolError(f"the {API_NAME} answer is not an object")
        if body.get("type") == "error":
            raise _stream_error(body)
        content = body.get("content")
        if not isinstance(content, list):
            raise ProviderProtocolError(f"the {API_NAME} answered without content")
        decoder = AnthropicStreamDecoder()
        decoder.feed("message_start", {"type": "message_start", "message": body})
        for index, block in enumerate(content):
            decoder.feed("", {"type": "content_block_start", "index": index,
                              "content_block": block})
        decoder.feed("", {"type": "message_delta", "delta": {"stop_reason": body.get(
            "stop_reason")}, "usage": body.get("usage") or {}})
        decoder.feed("", {"type": "message_stop"})
        return decoder.complete()


def anthropic_messages(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt and the history as alternating Messages API turns."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        blocks: list[dict[str, Any]] = []
        role = "assistant" if message.role == "assistant" else "user"
        if message.role == "system":
            if message.content:
                system.append(message.content)
            continue
        if message.role == "tool":
            if not message.tool_call_id:
                raise ProviderBadRequestError(
                    f"history message {i} is a tool result without a tool_call_id")
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id,
                                      "content": message.content or "(no output)"}
            if message.is_error:
                result["is_error"] = True
            blocks.append(result)
        else:
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            blocks += [{"type": "tool_use", "id": call.id, "name": call.name,
                        "input": call.arguments} for call in message.tool_calls]
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            merged = turns[-1]["content"] + blocks
            # tool_result blocks must open a user turn, before any text.
            merged.sort(key=lambda block: block["type"] != "tool_result")
            turns[-1]["content"] = merged
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(system), turns


@dataclass
class _Block:
    kind: str
    fragments: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""


class AnthropicStreamDecoder:
    """Accumulates Messages API events into deltas and the final message."""

    def __init__(self) -> None:
        self._blocks: dict[int, _Block] = {}
        self._input_tokens: int | None = None
        self._output_tokens: int | None = None
        self._stop_reason: str | None = None
        self._tool_count = 0
        self._started = False
        self._done = False

    @property
    def finished(self) -> bool:
        return self._done

    def feed(self, event: str, data: Any) -> Iterable[StreamEvent]:
        if not isinstance(data, dict):
            raise ProviderProtocolError(f"the {API_NAME} sent an event that is not an object")
        kind = data.get("type") or event
        if kind == "error":
            raise _stream_error(data)
        if kind == "message_start":
            self._started = True
            message = data.get("message") if isinstance(data.get("message"), dict) else {}
            self._usage(message.get("usage") if isinstance(message, dict) else None)
        elif kind == "content_block_start":
            return self._start_block(data)
        elif kind == "content_block_delta":
            return self._delta(data)
        elif kind == "message_delta":
            delta = data.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self._stop_reason = str(delta["stop_reason"])
            self._usage(data.get("usage"))
        elif kind == "message_stop":
            self._done = True
        return []  # ping, content_block_stop, and event types newer than this code

    def complete(self) -> StreamComplete:
        if not self._done and self._stop_reason is None:
            raise ProviderProtocolError(
                f"the {API_NAME} stream ended before the model finished (no message_stop)")
        text: list[str] = []
        calls: list[ToolCall] = []
        for _, block in sorted(self._blocks.items()):
            if block.kind == "text":
                text += block.fragments
            elif block.kind == "tool_use":
                calls.append(decode_tool_call(block.call_id, block.name,
                                              "".join(block.fragments)))
        usage = None
        if self._input_tokens is not None or self._output_tokens is not None:
            usage = Usage(self._input_tokens, self._output_tokens)
        finish = _STOP.get(self._stop_reason or "end_turn", "other")
        return StreamComplete(Message.assistant("".join(text), tuple(calls)), usage, finish)

    def _start_block(self, data: dict[str, Any]) -> list[StreamEvent]:
        index, block = data.get("index"), data.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            raise ProviderProtocolError(f"the {API_NAME} sent a malformed content_block_start")
        kind = str(block.get("type"))
        state = self._blocks[index] = _Block(kind)
        if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
            state.fragments.append(block["text"])
            return [TextDelta(block["text"])]
        if kind == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
            return [ReasoningDelta(block["thinking"])]
        if kind == "tool_use":
            state.call_id = str(block.get("id") or new_call_id())
            state.name = str(block.get("name") or "")
            if not state.name:
                raise ProviderProtocolError(f"the {API_NAME} sent a tool_use without a name")
            if isinstance(block.get("input"), dict) and block["input"]:
                state.fragments.append(json.dumps(block["input"]))
            self._tool_count += 1
            return [ToolCallStarted(self._tool_count - 1, state.call_id, state.name)]
        return []

    def _delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        index, delta = data.get("index"), data.get("delta")
        if not isinstance(delta, dict):
            raise ProviderProtocolError(f"the {API_NAME} sent a content_block_delta "
                                        "without a delta")
        block = self._blocks.get(index) if isinstance(index, int) else None
        if block is None:
            raise ProviderProtocolError(
                f"the {API_NAME} sent a delta for content block {index!r}, which never started")
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str) and delta["text"]:
            block.fragments.append(delta["text"])
            return [TextDelta(delta["text"])]
        if kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
            return [ReasoningDelta(delta["thinking"])] if delta["thinking"] else []
        if kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            block.fragments.append(delta["partial_json"])
        return []  # signature_delta, citations_delta, ...

    def _usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        counts = [usage.get(key) for key in ("input_tokens", "cache_creation_input_tokens",
                                             "cache_read_input_tokens")]
        inputs = [n for n in counts if isinstance(n, int)]
        if inputs:
            self._input_tokens = sum(inputs)
        if isinstance(usage.get("output_tokens"), int):
            self._output_tokens = usage["output_tokens"]


def _stream_error(data: dict[str, Any]) -> Exception:
    error = data.get("error")
    if isinstance(error, dict):
        return api_error(str(error.get("type") or ""), str(error.get("message") or ""),
                         API_NAME)
    return api_error("", str(error or data), API_NAME)
