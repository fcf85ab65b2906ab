"""The OpenAI-compatible provider: ``POST {baseUrl}/chat/completions``.

One code path for OpenAI, Ollama, vLLM, llama.cpp's server, LM Studio and
OpenRouter, so the request carries only what all of them accept: no ``tools`` key
when there are none (an empty array is refused), no ``name`` on tool messages, no
sampling parameters. The stream is read tolerantly where these servers differ:
reasoning arrives as ``reasoning_content`` or ``reasoning``; a tool call's id and
name may come once or repeated, its index may be missing; usage may come with the
finish chunk or after it; some servers end the body without ``[DONE]`` (accepted
once a ``finish_reason`` was seen).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

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
from nexus_lsp.providers.http import DONE, HttpProvider
from nexus_lsp.providers.tool_arguments import decode_tool_call, new_call_id

__all__ = ["OpenAIChatProvider", "OpenAIStreamDecoder", "openai_messages"]

API_NAME = "OpenAI-compatible API"
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "toolCalls",
    "function_call": "toolCalls",
    "length": "length",
}


class OpenAIChatProvider(HttpProvider):
    api_name: ClassVar[str] = API_NAME

    @property
    def url(self) -> str:
        return f"{self.settings.base_url.rstrip('/')}/chat/completions"

    def _headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def _body(
        self, messages: Sequence[Message], tools: Sequence[ToolDefinition], *, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": openai_messages(messages),
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if tools:
            body["tools"] = [
                {"type": "function",
                 "function": {"name": t.name, "description": t.description,
                              "parameters": t.parameters}}
                for t in tools
            ]
        return body

    def _decoder(self) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()

    def _whole(self, body: Any) -> StreamComplete:
        if isinstance(body, dict) and body.get("error"):
            raise _stream_error(body["error"])
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProviderProtocolError(f"the {API_NAME} answered without choices")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise ProviderProtocolError(f"the {API_NAME} answered a choice without a message")
        decoder = OpenAIStreamDecoder()
        decoder.feed("", {
            "choices": [{"index": 0, "delta": message,
                         "finish_reason": choice.get("finish_reason")}],
            "usage": body.get("usage"),
        })
        return decoder.complete()


def openai_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The history in chat-completions form."""
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if message.role == "assistant":
            wire: dict[str, Any] = {"role": "assistant", "content": message.content}
            if message.tool_calls:
                wire["content"] = message.content or None
                wire["tool_calls"] = [
                    {"id": call.id, "type": "function",
                     "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}
                    for call in message.tool_calls
                ]
            out.append(wire)
        elif message.role == "tool":
            if not message.tool_call_id:
                raise ProviderBadRequestError(
                    f"history message {i} is a tool result without a tool_call_id")
            out.append({"role": "tool", "tool_call_id": message.tool_call_id,
                        "content": message.content})
        else:
            out.append({"role": message.role, "content": message.content})
    return out


@dataclass
class _CallSlot:
    ordinal: int
    id: str = ""
    name: str = ""
    fragments: list[str] = field(default_factory=list)
    started: bool = False

    def to_call(self) -> ToolCall:
        if not self.name:
            raise ProviderProtocolError(
                f"the {API_NAME} streamed tool call {self.ordinal} without a function name")
        return decode_tool_call(self.id, self.name, "".join(self.fragments))


class OpenAIStreamDecoder:
    """Accumulates chat-completion chunks into deltas and the final message."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._slots: list[_CallSlot] = []
        self._by_index: dict[int, _CallSlot] = {}  # the wire index → its current call
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._done = False

    @property
    def finished(self) -> bool:
        return self._done

    # A chunk that is nothing but text: see providers/text_template.py.
    TEXT_PATH = ("choices", 0, "delta", "content")

    @staticmethod
    def plain_text(data: Any) -> str | None:
        """The text of a chunk that only adds text (what feed() needs nothing else of)."""
        if type(data) is not dict or data.get("error") or data.get("usage"):
            return None
        choices = data.get("choices")
        if type(choices) is not list or len(choices) != 1 or type(choices[0]) is not dict:
            return None
        choice = choices[0]
        delta = choice.get("delta")
        if (choice.get("index", 0) != 0 or choice.get("finish_reason")
                or type(delta) is not dict or not set(delta) <= {"content", "role"}):
            return None
        content = delta.get("content")
        return content if type(content) is str and content else None

    def add_text(self, text: str) -> TextDelta:
        """What feed() does with a chunk whose plain_text() is ``text``."""
        self._text.append(text)
        return TextDelta(text)

    def feed(self, event: str, data: Any) -> Iterable[StreamEvent]:
        if data == DONE:
            self._done = True
            return []
        if not isinstance(data, dict):
            raise ProviderProtocolError(f"the {API_NAME} sent a chunk that is not an object")
        if data.get("error"):
            raise _stream_error(data["error"])
        usage = data.get("usage")
        if isinstance(usage, dict):
            self._usage = Usage(_int(usage.get("prompt_tokens")),
                                _int(usage.get("completion_tokens")))
        out: list[StreamEvent] = []
        for choice in data.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise ProviderProtocolError(f"the {API_NAME} sent a delta that is not an object")
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                out.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._text.append(content)
                out.append(TextDelta(content))
            for raw in delta.get("tool_calls") or ():
                started = self._tool_fragment(raw)
                if started is not None:
                    out.append(started)
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])
        return out

    def complete(self) -> StreamComplete:
        if not self._done and self._finish is None:
            raise ProviderProtocolError(
                f"the {API_NAME} stream ended before the model finished "
                "(no finish_reason and no [DONE])")
        calls = tuple(slot.to_call() for slot in self._slots)
        finish = _FINISH.get(self._finish or "stop", "other")
        if calls and finish == "stop":
            finish = "toolCalls"  # some local servers say "stop" after tool calls
        message = Message.assistant("".join(self._text), calls)
        return StreamComplete(message, self._usage, finish)

    def _tool_fragment(self, raw: Any) -> ToolCallStarted | None:
        if not isinstance(raw, dict):
            raise ProviderProtocolError(f"the {API_NAME} sent a tool_calls entry that is "
                                        "not an object")
        function: dict[str, Any] = raw["function"] if isinstance(raw.get("function"), dict) else {}
        call_id, name = raw.get("id"), function.get("name")
        index = raw.get("index")
        slot: _CallSlot | None
        if isinstance(index, int):
            slot = self._by_index.get(index)
            if slot is not None and call_id and slot.id and call_id != slot.id:
                slot = None  # an index reused for a new call (seen with some proxies)
        elif call_id or name or not self._slots:
            slot = None  # no index (whole calls in one chunk): one that names itself is new
        else:
            slot = self._slots[-1]
        if slot is None:
            slot = _CallSlot(len(self._slots))
            self._slots.append(slot)
        if isinstance(index, int):
            self._by_index[index] = slot
        if isinstance(call_id, str) and call_id and not slot.id:
            slot.id = call_id
        if isinstance(name, str) and name and not slot.name:
            slot.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            slot.fragments.append(arguments)
        elif isinstance(arguments, dict):
            slot.fragments.append(json.dumps(arguments))
        if slot.started or not slot.name:
            return None
        slot.started = True
        slot.id = slot.id or new_call_id()
        return ToolCallStarted(slot.ordinal, slot.id, slot.name)


def _stream_error(error: Any) -> Exception:
    if isinstance(error, dict):
        kind = str(error.get("type") or error.get("code") or "")
        return api_error(kind, str(error.get("message") or error), API_NAME)
    return api_error("", str(error), API_NAME)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
