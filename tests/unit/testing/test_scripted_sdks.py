"""The official SDKs read the scripted server's streams and see what our providers see.

This is the check that the scripted wire formats are the real ones: if an SDK
parses them without error and ends with the same text and tool calls as
``nexus_lsp.providers``, the providers are tested against the real shapes.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import anthropic
import openai
import pytest

from nexus_lsp.config import ProviderSettings
from nexus_lsp.core import CancellationToken, Message, StreamComplete, ToolDefinition
from nexus_lsp.providers import create_provider
from nexus_lsp.testing import ScriptedModelServer

ANSWER = {
    "text": "I will read both files.",
    "reasoning": "The user wants a summary.",
    "chunkSize": 3,
    "toolCalls": [
        {"id": "call_a", "name": "read_file", "arguments": {"path": "src/app.py", "limit": 40}},
        {"id": "call_b", "name": "search_text", "arguments": {"pattern": "def \\w+\\(",
                                                              "glob": "*.py"}},
    ],
}
TOOLS = [ToolDefinition("read_file", "Read a file", {"type": "object",
                                                     "properties": {"path": {"type": "string"}}})]


Calls = list[tuple[str, str, dict[str, Any]]]


async def ours(kind: Literal["openai", "anthropic"], base_url: str) -> tuple[str, Calls]:
    settings = ProviderSettings(kind=kind, base_url=base_url, model="m",
                                api_key_env="NEXUS_TEST_UNSET_KEY")
    provider = create_provider(settings)
    try:
        complete = None
        async with provider.stream([Message.user("hi")], TOOLS, CancellationToken()) as events:
            async for event in events:
                if isinstance(event, StreamComplete):
                    complete = event
        assert complete is not None
        calls = [(c.id, c.name, c.arguments) for c in complete.message.tool_calls]
        return complete.message.content, calls
    finally:
        await provider.aclose()


async def test_openai_sdk_reads_the_stream_like_our_provider() -> None:
    async with ScriptedModelServer({"responses": [ANSWER, ANSWER]}) as srv:
        client = openai.AsyncOpenAI(api_key="test", base_url=srv.openai_base_url, max_retries=0)
        try:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True,
                stream_options={"include_usage": True},
                tools=[{"type": "function", "function": {"name": "read_file",
                                                         "parameters": {"type": "object"}}}],
            )
            text = ""
            calls: dict[int, dict[str, str]] = {}
            finish = usage = None
            async for chunk in stream:
                usage = chunk.usage or usage
                for choice in chunk.choices:
                    text += choice.delta.content or ""
                    finish = choice.finish_reason or finish
                    for call in choice.delta.tool_calls or ():
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "args": ""})
                        slot["id"] += call.id or ""
                        if call.function is not None:
                            slot["name"] += call.function.name or ""
                            slot["args"] += call.function.arguments or ""
        finally:
            await client.close()
        our_text, our_calls = await ours("openai", srv.openai_base_url)
    sdk_calls = [(c["id"], c["name"], json.loads(c["args"])) for _, c in sorted(calls.items())]
    assert text == our_text == ANSWER["text"]
    assert sdk_calls == our_calls
    assert [c[0] for c in our_calls] == ["call_a", "call_b"]
    assert finish == "tool_calls"
    assert usage is not None and usage.completion_tokens > 0
    assert srv.validation_errors == []


async def test_anthropic_sdk_reads_the_stream_like_our_provider() -> None:
    async with ScriptedModelServer({"responses": [ANSWER, ANSWER]}) as srv:
        client = anthropic.AsyncAnthropic(api_key="test", base_url=srv.anthropic_base_url,
                                          max_retries=0)
        try:
            async with client.messages.stream(
                model="m", max_tokens=1000, messages=[{"role": "user", "content": "hi"}],
                tools=[{"name": "read_file", "input_schema": {"type": "object"}}],
            ) as stream:
                streamed_text = "".join([text async for text in stream.text_stream])
                final = await stream.get_final_message()
        finally:
            await client.close()
        our_text, our_calls = await ours("anthropic", srv.anthropic_base_url)
    sdk_calls = [(b.id, b.name, b.input) for b in final.content if b.type == "tool_use"]
    thinking = [b.thinking for b in final.content if b.type == "thinking"]
    assert streamed_text == our_text == ANSWER["text"]
    assert sdk_calls == our_calls
    assert thinking == [ANSWER["reasoning"]]
    assert final.stop_reason == "tool_use"
    assert srv.validation_errors == []


async def test_sdks_read_whole_answers_and_api_shaped_errors() -> None:
    script = {"responses": [
        {"text": "plain"}, {"text": "plain"},
        {"fault": {"status": 429, "message": "rate limited, slow down"}},
        {"fault": {"status": 529, "message": "Overloaded"}},
    ]}
    async with ScriptedModelServer(script) as srv:
        oai = openai.AsyncOpenAI(api_key="test", base_url=srv.openai_base_url, max_retries=0)
        ant = anthropic.AsyncAnthropic(api_key="test", base_url=srv.anthropic_base_url,
                                       max_retries=0)
        try:
            completion = await oai.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}])
            message = await ant.messages.create(
                model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
            with pytest.raises(openai.RateLimitError, match="slow down"):
                await oai.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}])
            with pytest.raises(anthropic.APIStatusError, match="Overloaded") as caught:
                await ant.messages.create(
                    model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
            # The SDK reads the API's error type from our body.
            assert caught.value.status_code == 529
            assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
            with pytest.raises(openai.BadRequestError, match="tool_call_ids did not have"):
                await oai.chat.completions.create(model="m", messages=[
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                          "function": {"name": "x",
                                                                       "arguments": "{}"}}]},
                    {"role": "user", "content": "next"},
                ])
        finally:
            await oai.close()
            await ant.close()
    assert completion.choices[0].message.content == "plain"
    assert message.content[0].type == "text" and message.content[0].text == "plain"
    assert len(srv.validation_errors) == 1
