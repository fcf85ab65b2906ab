"""Plain text chunks recognised by their learned shape: the same result as parsing them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from nexus_lsp.core import Message, StreamComplete, TextDelta
from nexus_lsp.providers.openai_chat import OpenAIStreamDecoder
from nexus_lsp.providers.read_decoder import RawChunks
from nexus_lsp.providers.text_template import TextTemplate

from .conftest import ProviderFactory, collect

PATH = OpenAIStreamDecoder.TEXT_PATH


def chunk_text(content: str, *, chunk_id: str = "c1", compact: bool = False) -> str:
    data = {"id": chunk_id, "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return json.dumps(data, separators=(",", ":") if compact else None, ensure_ascii=compact)


def learned(text: str) -> TextTemplate:
    data = json.loads(text)
    value = OpenAIStreamDecoder.plain_text(data)
    assert value is not None
    template = TextTemplate.learn(text, data, PATH, value)
    assert template is not None
    return template


def test_a_chunk_of_the_same_shape_reads_as_parsing_it_would() -> None:
    for compact in (False, True):  # the server's own spacing
        template = learned(chunk_text("Hello", compact=compact))
        for value in ("wor", "ld, ", "café ☕", "x" * 500):
            text = chunk_text(value, compact=compact)
            if compact and not value.isascii():
                assert template.match(text) is None  # \u escapes: parsed instead
                continue
            assert template.match(text) == value
            assert template.data(value) == json.loads(text)
            assert template.raw(value) == json.dumps(json.loads(text), ensure_ascii=False)


def test_anything_else_is_left_to_the_parser() -> None:
    template = learned(chunk_text("Hello"))
    for text in (chunk_text('say "hi"'), chunk_text("a\\b"), chunk_text("tab\there"),
                 chunk_text("x", chunk_id="c2"), chunk_text(""),
                 chunk_text('", "finish_reason": "stop'),
                 '{"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}]}'):
        assert template.match(text) is None, text
    # A chunk whose text also appears elsewhere in it cannot serve as a template.
    text = chunk_text("c1")
    assert TextTemplate.learn(text, json.loads(text), PATH, "c1") is None
    assert OpenAIStreamDecoder.plain_text(json.loads(
        '{"choices": [{"index": 0, "delta": {"content": "x", "tool_calls": []}}]}')) is None


async def test_the_provider_gives_the_same_events_and_raw_chunks(
        make_provider: ProviderFactory) -> None:
    pieces = ["Hel", "lo", ' "quoted"', " ☕", "\n", "back\\slash", " end"]
    events = [chunk_text(p) for p in pieces] + [chunk_text("x", chunk_id="other")]
    final = json.dumps({"id": "c1", "choices": [{"index": 0, "delta": {},
                                                 "finish_reason": "stop"}]})
    body = "".join(f"data: {e}\n\n" for e in [*events, final]) + "data: [DONE]\n\n"

    async def reads() -> AsyncIterator[bytes]:
        for event in body.encode().split(b"\n\n")[:-1]:  # one event per read
            await asyncio.sleep(0)
            yield event + b"\n\n"

    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, content=reads(), headers={"content-type": "text/event-stream"}))
    raw: list[tuple[str, Any]] = []
    provider = make_provider("openai", "http://model.test/v1", transport=transport,
                             raw_logger=lambda kind, data: raw.append((kind, data)))
    got = await collect(provider, [Message.user("hi")])
    assert "".join(e.text for e in got if isinstance(e, TextDelta)) == "".join(pieces) + "x"
    complete = got[-1]
    assert isinstance(complete, StreamComplete)
    assert complete.message.content == "".join(pieces) + "x"
    logged = [(item, text) for kind, data in raw if kind == "chunks"
              for item, text in zip(data, data.texts, strict=True)]
    assert [item for item, _ in logged] == [json.loads(e) for e in [*events, final]] + ["[DONE]"]
    assert any(text is not None for _, text in logged)  # the learned shape was used
    for item, text in logged:
        assert text is None or text == json.dumps(item, ensure_ascii=False)
    assert all(isinstance(data, RawChunks) for kind, data in raw if kind == "chunks")
