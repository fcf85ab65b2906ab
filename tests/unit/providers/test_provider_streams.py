"""Both providers against the scripted server: deltas, tool calls, request bodies, headers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nexus_lsp.core import (
    CancellationToken,
    Message,
    ReasoningDelta,
    StreamComplete,
    TextDelta,
    ToolCall,
    ToolCallStarted,
    ToolDefinition,
    Usage,
)
from nexus_lsp.providers import Provider
from nexus_lsp.testing import ScriptedModelServer

from .conftest import KEY_ENV, KINDS, Kind, ProviderFactory, base_url, collect

READ = ToolDefinition("read_file", "Read a file.", {
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})
ANSWER = {
    "reasoning": "First look at the file.",
    "text": "Let me read it.",
    "toolCalls": [{"id": "call_1", "name": "read_file", "arguments": {"path": "a.py"}},
                  {"id": "call_2", "name": "list_directory", "arguments": {}}],
    "chunkSize": 4,
    "usage": {"inputTokens": 120, "outputTokens": 40},
}


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_yields_deltas_tool_starts_then_one_complete(
        kind: Kind, make_provider: ProviderFactory) -> None:
    async with ScriptedModelServer({"responses": [ANSWER]}) as srv:
        provider = make_provider(kind, base_url(srv, kind))
        assert isinstance(provider, Provider)
        events = await collect(provider, [Message.user("read a.py")], [READ])
    reasoning = [e.text for e in events if isinstance(e, ReasoningDelta)]
    text = [e.text for e in events if isinstance(e, TextDelta)]
    starts = [e for e in events if isinstance(e, ToolCallStarted)]
    # Deltas come merged per network read: how many depends on how the reads fell.
    assert "".join(reasoning) == ANSWER["reasoning"]
    assert "".join(text) == ANSWER["text"]
    assert [(s.index, s.id, s.name) for s in starts] == [(0, "call_1", "read_file"),
                                                         (1, "call_2", "list_directory")]
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("ToolCallStarted") > max(i for i, k in enumerate(kinds) if k == "TextDelta")
    complete = events[-1]
    assert isinstance(complete, StreamComplete)
    assert complete.message == Message.assistant("Let me read it.", (
        ToolCall("call_1", "read_file", {"path": "a.py"}),
        ToolCall("call_2", "list_directory", {}),
    ))
    assert complete.usage == Usage(120, 40)
    assert complete.finish_reason == "toolCalls"
    assert srv.validation_errors == []


@pytest.mark.parametrize("kind", KINDS)
async def test_invalid_tool_arguments_are_flagged_never_emptied(
        kind: Kind, make_provider: ProviderFactory) -> None:
    answer = {"toolCalls": [{"id": "c1", "name": "edit_file", "rawArguments": '{"path": "a.py'},
                            {"id": "c2", "name": "edit_file", "rawArguments": "[1, 2]"},
                            {"id": "c3", "name": "edit_file", "arguments": {"path": "b.py"}}],
              "chunkSize": 3}
    async with ScriptedModelServer({"responses": [answer]}) as srv:
        events = await collect(make_provider(kind, base_url(srv, kind)), [Message.user("x")])
    complete = events[-1]
    assert isinstance(complete, StreamComplete)
    broken, listed, fine = complete.message.tool_calls
    assert broken.arguments == {} and broken.raw_arguments == '{"path": "a.py'
    assert broken.arguments_error is not None and "not valid JSON" in broken.arguments_error
    assert listed.raw_arguments == "[1, 2]"
    assert listed.arguments_error == "the arguments must be a JSON object, not an array"
    assert fine.arguments == {"path": "b.py"} and fine.arguments_error is None


@pytest.mark.parametrize("kind", KINDS)
async def test_complete_sends_stream_false_and_returns_the_whole_answer(
        kind: Kind, make_provider: ProviderFactory) -> None:
    async with ScriptedModelServer({"responses": [ANSWER]}) as srv:
        provider = make_provider(kind, base_url(srv, kind))
        complete = await provider.complete([Message.user("hi")], [READ], CancellationToken())
    assert srv.requests[0].json["stream"] is False
    assert "stream_options" not in srv.requests[0].json
    assert complete.message.content == "Let me read it."
    assert [c.id for c in complete.message.tool_calls] == ["call_1", "call_2"]
    assert complete.usage == Usage(120, 40)
    assert complete.finish_reason == "toolCalls"


HISTORY = [
    Message.system("You are a test."),
    Message.user("Fix a.py"),
    Message.assistant("Reading.", (ToolCall("c1", "read_file", {"path": "a.py"}),
                                   ToolCall("c2", "read_file", {"path": "b.py"}))),
    Message(role="tool", content="print(1)", tool_call_id="c1", name="read_file"),
    Message(role="tool", content="read_file: failed: no such file", tool_call_id="c2",
            name="read_file", is_error=True),
    Message(role="assistant", content="I was interr", cancelled=True),
    Message.user("go on"),
    Message.assistant("", (ToolCall("c3", "list_directory", {}),)),
    Message(role="tool", content="", tool_call_id="c3", name="list_directory"),
    Message(role="assistant", content="", cancelled=True),  # cut before any text
    Message.user("and now?"),
]


async def test_openai_request_body_and_headers(
        make_provider: ProviderFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-openai-test")
    async with ScriptedModelServer({"responses": [{"text": "ok"}, {"text": "ok"}]}) as srv:
        provider = make_provider("openai", srv.openai_base_url)
        await collect(provider, HISTORY, [READ])
        await collect(provider, [Message.user("no tools")], [])
    assert srv.validation_errors == []
    first, second = srv.requests
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == "<redacted>"
    body: dict[str, Any] = first.json
    assert body["model"] == "test-model"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["tools"] == [{"type": "function", "function": {
        "name": "read_file", "description": "Read a file.", "parameters": READ.parameters}}]
    assert body["messages"] == [
        {"role": "system", "content": "You are a test."},
        {"role": "user", "content": "Fix a.py"},
        {"role": "assistant", "content": "Reading.", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}},
            {"id": "c2", "type": "function",
             "function": {"name": "read_file", "arguments": '{"path": "b.py"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "print(1)"},
        {"role": "tool", "tool_call_id": "c2", "content": "read_file: failed: no such file"},
        {"role": "assistant", "content": "I was interr"},
        {"role": "user", "content": "go on"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c3", "type": "function",
             "function": {"name": "list_directory", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c3", "content": ""},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "and now?"},
    ]
    assert "tools" not in second.json  # an empty array is refused by OpenAI
    assert first.client_port == second.client_port  # one client, connection reused


async def test_anthropic_request_body_and_headers(
        make_provider: ProviderFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-ant-test")
    async with ScriptedModelServer({"responses": [{"text": "ok"}, {"text": "ok"}]}) as srv:
        await collect(make_provider("anthropic", srv.anthropic_base_url), HISTORY, [READ])
        # A base URL that already ends in /v1 reaches the same endpoint.
        await collect(make_provider("anthropic", srv.url + "/v1/"), [Message.user("x")])
    assert srv.validation_errors == []
    first, second = srv.requests
    assert first.path == second.path == "/v1/messages"
    assert first.headers["x-api-key"] == "<redacted>"
    assert first.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in first.headers
    body: dict[str, Any] = first.json
    assert body["system"] == "You are a test."
    assert body["max_tokens"] == 8192 and body["stream"] is True
    assert body["tools"] == [{"name": "read_file", "description": "Read a file.",
                              "input_schema": READ.parameters}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Fix a.py"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Reading."},
            {"type": "tool_use", "id": "c1", "name": "read_file", "input": {"path": "a.py"}},
            {"type": "tool_use", "id": "c2", "name": "read_file", "input": {"path": "b.py"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "print(1)"},
            {"type": "tool_result", "tool_use_id": "c2",
             "content": "read_file: failed: no such file", "is_error": True}]},
        {"role": "assistant", "content": [{"type": "text", "text": "I was interr"}]},
        {"role": "user", "content": [{"type": "text", "text": "go on"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "c3", "name": "list_directory", "input": {}}]},
        # The empty cancelled answer is dropped and the user turns merge, results first.
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c3", "content": "(no output)"},
            {"type": "text", "text": "and now?"}]},
    ]
    assert "system" not in second.json


@pytest.mark.parametrize("kind", KINDS)
async def test_no_auth_header_when_the_key_variable_is_unset(
        kind: Kind, make_provider: ProviderFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    async with ScriptedModelServer({"responses": [{"text": "local model"}]}) as srv:
        events = await collect(make_provider(kind, base_url(srv, kind)), [Message.user("hi")])
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "local model"
    headers = srv.requests[0].headers
    assert "authorization" not in headers and "x-api-key" not in headers


@pytest.mark.parametrize("kind", KINDS)
async def test_leaving_the_stream_early_closes_the_connection(
        kind: Kind, make_provider: ProviderFactory) -> None:
    answer = {"text": "a long answer the consumer does not wait for", "chunkSize": 1,
              "delayMs": 20}
    async with ScriptedModelServer({"responses": [answer]}) as srv:
        provider = make_provider(kind, base_url(srv, kind))
        async with provider.stream([Message.user("hi")], [], CancellationToken()) as stream:
            async for event in stream:
                assert isinstance(event, TextDelta)
                break
        await srv.wait_for_disconnect(5)
    assert srv.disconnects == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_streams_of_one_provider_run_concurrently(
        kind: Kind, make_provider: ProviderFactory) -> None:
    script = {"responses": [{"text": "same", "chunkSize": 1, "delayMs": 1}] * 3}
    async with ScriptedModelServer(script) as srv:
        provider = make_provider(kind, base_url(srv, kind))
        results = await asyncio.gather(*(collect(provider, [Message.user(str(i))])
                                         for i in range(3)))
    for events in results:
        complete = events[-1]
        assert isinstance(complete, StreamComplete) and complete.message.content == "same"
