"""The scripted model server over raw HTTP: both wire formats, faults, validation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from nexus_lsp.testing import Script, ScriptedModelServer, ScriptError

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
USER = [{"role": "user", "content": "hi"}]


def body(path: str, *, stream: bool = True, messages: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"model": "m", "messages": messages or USER, "stream": stream}
    if path == ANTHROPIC:
        out["max_tokens"] = 100
    else:
        out["stream_options"] = {"include_usage": True}
    return out


async def sse_data(client: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> list[str]:
    async with client.stream("POST", url, json=payload) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = (await response.aread()).decode()
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


async def test_openai_stream_chunks_tool_calls_usage_and_done() -> None:
    script = {"responses": [{
        "text": "Hello there", "reasoning": "hmm", "chunkSize": 5,
        "toolCalls": [{"id": "c1", "name": "read_file", "arguments": {"path": "a.py"}}],
        "usage": {"inputTokens": 12, "outputTokens": 7},
    }]}
    async with ScriptedModelServer(script) as srv, httpx.AsyncClient() as client:
        data = await sse_data(client, srv.url + OPENAI, body(OPENAI))
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == "Hello there"
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "hmm"
    arguments = "".join(
        call["function"]["arguments"] for d in deltas for call in d.get("tool_calls", ()))
    assert json.loads(arguments) == {"path": "a.py"}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 7,
                                   "total_tokens": 19}


async def test_anthropic_stream_events_in_order() -> None:
    script = {"responses": [{"text": "Hi!", "reasoning": "think", "chunkSize": 2,
                             "toolCalls": [{"id": "t1", "name": "list_directory",
                                            "arguments": {}}]}]}
    async with ScriptedModelServer(script) as srv, httpx.AsyncClient() as client:
        data = await sse_data(client, srv.url + ANTHROPIC, body(ANTHROPIC))
    events = [json.loads(d) for d in data]
    types = [e["type"] for e in events]
    assert types[:2] == ["message_start", "ping"]
    assert types[-2:] == ["message_delta", "message_stop"]
    blocks = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert blocks == ["thinking", "text", "tool_use"]
    assert types.count("content_block_stop") == 3
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "Hi!"
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC])
async def test_whole_response_when_not_streaming(path: str) -> None:
    script = {"responses": [{"text": "whole answer", "toolCalls": [{"name": "x",
                                                                    "arguments": {"a": 1}}]}]}
    async with ScriptedModelServer(script) as srv, httpx.AsyncClient() as client:
        response = await client.post(srv.url + path, json=body(path, stream=False))
    assert response.status_code == 200
    answer = response.json()
    if path == OPENAI:
        message = answer["choices"][0]["message"]
        assert message["content"] == "whole answer"
        assert message["tool_calls"][0]["id"] == "call_1_0"
    else:
        assert answer["content"][0] == {"type": "text", "text": "whole answer"}
        assert answer["content"][1]["input"] == {"a": 1}


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC])
async def test_status_fault_is_api_shaped_with_retry_after(path: str) -> None:
    script = {"responses": [{"fault": {"status": 429, "retryAfter": 2, "message": "slow down"}},
                            {"text": "ok"}]}
    async with ScriptedModelServer(script) as srv, httpx.AsyncClient() as client:
        response = await client.post(srv.url + path, json=body(path))
        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        error = response.json()["error"]
        assert error["message"] == "slow down"
        if path == ANTHROPIC:
            assert response.json()["type"] == "error"
            assert error["type"] == "rate_limit_error"
        assert srv.remaining == 1


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC])
async def test_cut_fault_closes_the_connection_mid_stream(path: str) -> None:
    script = {"responses": [{"text": "abcdefgh", "chunkSize": 2, "fault": {"cutAfterChunks": 2}}]}
    async with ScriptedModelServer(script) as srv, httpx.AsyncClient() as client:
        received = b""
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream("POST", srv.url + path, json=body(path)) as response:
                async for part in response.aiter_bytes():
                    received += part
        assert srv.disconnects == 0  # the server cut it, the client did not leave
    text = received.decode()
    assert '"ab"' in text and '"cd"' in text and '"ef"' not in text


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC])
async def test_malformed_fault_sends_a_data_line_that_is_not_json(path: str) -> None:
    script = {"responses": [{"text": "abcdef", "chunkSize": 2,
                             "fault": {"malformedAfterChunks": 1}}]}
    async with ScriptedModelServer(script) as srv, httpx.AsyncClient() as client:
        data = await sse_data(client, srv.url + path, body(path))
    bad = []
    for item in data:
        try:
            json.loads(item)
        except ValueError:
            bad.append(item)
    assert bad and bad != ["[DONE]"]


@pytest.mark.parametrize("path", [OPENAI, ANTHROPIC])
async def test_stall_waits_until_the_client_leaves_and_counts_it(path: str) -> None:
    script = {"responses": [{"text": "never", "fault": {"stall": True}}]}
    async with ScriptedModelServer(script) as srv, httpx.AsyncClient() as client:
        async with client.stream("POST", srv.url + path, json=body(path)) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            first = await anext(lines)
            assert first.startswith(("data:", "event:"))
        # Leaving the block closed the response while the server was waiting.
        await srv.wait_for_disconnect(5)
        assert srv.disconnects == 1


async def test_exhausted_script_answers_500_saying_so() -> None:
    async with ScriptedModelServer({"responses": [{"text": "one"}]}) as srv, \
            httpx.AsyncClient() as client:
        assert (await client.post(srv.url + OPENAI, json=body(OPENAI, stream=False))).is_success
        response = await client.post(srv.url + ANTHROPIC, json=body(ANTHROPIC))
    assert response.status_code == 500
    assert "exhausted" in response.json()["error"]["message"]
    assert len(srv.requests) == 2


async def test_push_and_extend_add_responses_at_run_time() -> None:
    async with ScriptedModelServer() as srv, httpx.AsyncClient() as client:
        srv.push({"text": "first"})
        srv.extend([{"text": "second"}, {"text": "third"}])
        with pytest.raises(ScriptError, match="chunkSize"):
            srv.extend([{"text": "ok"}, {"chunkSize": -1}])
        assert srv.remaining == 3  # a bad list adds nothing
        texts = []
        for _ in range(3):
            answer = (await client.post(srv.url + OPENAI, json=body(OPENAI, stream=False))).json()
            texts.append(answer["choices"][0]["message"]["content"])
    assert texts == ["first", "second", "third"]


OPENAI_BAD_HISTORIES = [
    pytest.param(
        [{"role": "user", "content": "hi"},
         {"role": "assistant", "content": None, "tool_calls": [
             {"id": "c1", "type": "function", "function": {"name": "x", "arguments": "{}"}}]},
         {"role": "user", "content": "again"}],
        "did not have response messages: c1", id="call-without-result"),
    pytest.param(
        [{"role": "user", "content": "hi"},
         {"role": "tool", "tool_call_id": "c9", "content": "out"}],
        "must be a response to a preceding message with 'tool_calls'", id="result-without-call"),
    pytest.param(
        [{"role": "user", "content": "hi"},
         {"role": "assistant", "content": None, "tool_calls": [
             {"id": "c1", "type": "function", "function": {"name": "x", "arguments": "{}"}},
             {"id": "c2", "type": "function", "function": {"name": "x", "arguments": "{}"}}]},
         {"role": "tool", "tool_call_id": "c1", "content": "out"}],
        "c2", id="one-of-two-answered"),
]


@pytest.mark.parametrize(("messages", "expected"), OPENAI_BAD_HISTORIES)
async def test_openai_validation_refuses_inconsistent_tool_history(
        messages: list[Any], expected: str) -> None:
    async with ScriptedModelServer({"responses": [{"text": "unused"}]}) as srv, \
            httpx.AsyncClient() as client:
        response = await client.post(srv.url + OPENAI, json=body(OPENAI, messages=messages))
        assert response.status_code == 400
        assert expected in response.json()["error"]["message"]
        assert [e.message for e in srv.validation_errors] == [response.json()["error"]["message"]]
        assert srv.requests[0].json["messages"] == messages  # recorded anyway
        assert srv.remaining == 1  # a refused request consumes no response


def _tool_use(call_id: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": "x", "input": {}}


def _tool_result(call_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": call_id, "content": "out"}


ANTHROPIC_BAD_HISTORIES = [
    pytest.param(
        [{"role": "user", "content": "hi"},
         {"role": "assistant", "content": [_tool_use("t1")]},
         {"role": "user", "content": [{"type": "text", "text": "no result"}]}],
        "`tool_use` ids were found without `tool_result` blocks immediately after: t1",
        id="call-without-result"),
    pytest.param(
        [{"role": "user", "content": "hi"},
         {"role": "assistant", "content": "ok"},
         {"role": "user", "content": [_tool_result("t7")]}],
        "unexpected `tool_use_id` found in `tool_result` blocks: t7", id="result-without-call"),
    pytest.param(
        [{"role": "user", "content": "hi"},
         {"role": "assistant", "content": [{"type": "text", "text": ""}]},
         {"role": "user", "content": "again"}],
        "text content blocks must be non-empty", id="empty-text-block"),
    pytest.param(
        [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}],
        "roles must alternate", id="two-user-messages"),
    pytest.param(
        [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "top-level 'system' parameter", id="system-in-messages"),
    pytest.param(
        [{"role": "user", "content": "hi"},
         {"role": "assistant", "content": [_tool_use("t1")]}],
        "without `tool_result`", id="unanswered-at-the-end"),
]


@pytest.mark.parametrize(("messages", "expected"), ANTHROPIC_BAD_HISTORIES)
async def test_anthropic_validation_refuses_what_the_api_refuses(
        messages: list[Any], expected: str) -> None:
    async with ScriptedModelServer({"responses": [{"text": "unused"}]}) as srv, \
            httpx.AsyncClient() as client:
        response = await client.post(srv.url + ANTHROPIC, json=body(ANTHROPIC, messages=messages))
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert expected in response.json()["error"]["message"]
    assert len(srv.validation_errors) == 1
    assert srv.validation_errors[0].path == ANTHROPIC


async def test_valid_tool_histories_pass_both_validators() -> None:
    openai_history = [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "x", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "out"},
        {"role": "assistant", "content": "done"}, {"role": "user", "content": "more"},
    ]
    anthropic_history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "let me"}, _tool_use("t1")]},
        {"role": "user", "content": [_tool_result("t1"), {"type": "text", "text": "more"}]},
    ]
    async with ScriptedModelServer({"responses": [{"text": "a"}, {"text": "b"}]}) as srv, \
            httpx.AsyncClient() as client:
        first = await client.post(srv.url + OPENAI,
                                  json=body(OPENAI, stream=False, messages=openai_history))
        second = await client.post(srv.url + ANTHROPIC,
                                   json=body(ANTHROPIC, stream=False, messages=anthropic_history))
    assert (first.status_code, second.status_code) == (200, 200)
    assert srv.validation_errors == []


async def test_requests_are_recorded_with_secrets_redacted() -> None:
    async with ScriptedModelServer({"responses": [{"text": "a"}, {"text": "b"}]}) as srv, \
            httpx.AsyncClient() as client:
        await client.post(srv.url + OPENAI, json=body(OPENAI, stream=False),
                          headers={"Authorization": "Bearer sk-secret-1"})
        await client.post(srv.url + ANTHROPIC, json=body(ANTHROPIC, stream=False),
                          headers={"x-api-key": "sk-secret-2"})
        models = await client.get(srv.url + "/v1/models")
    assert models.json()["data"][0]["id"] == "scripted"
    first, second, third = srv.requests
    assert first.headers["authorization"] == "<redacted>"
    assert second.headers["x-api-key"] == "<redacted>"
    assert "sk-secret" not in repr(srv.requests)
    assert (first.path, first.response_index, first.json["model"]) == (OPENAI, 0, "m")
    assert (second.response_index, third.method, third.path) == (1, "GET", "/v1/models")
    assert first.client_port == second.client_port  # httpx reused the connection


async def test_invalid_json_body_is_a_recorded_validation_error() -> None:
    async with ScriptedModelServer({"responses": [{"text": "a"}]}) as srv, \
            httpx.AsyncClient() as client:
        response = await client.post(srv.url + OPENAI, content=b"{oops",
                                     headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]
    assert srv.requests[0].json is None
    assert len(srv.validation_errors) == 1


async def test_delay_and_concurrent_requests_take_responses_in_order() -> None:
    script = Script.from_dict({"responses": [{"text": "aaaa", "chunkSize": 1, "delayMs": 1},
                                             {"text": "bbbb", "chunkSize": 1, "delayMs": 1}]})
    async with ScriptedModelServer(script) as srv, httpx.AsyncClient() as client:
        first, second = await asyncio.gather(
            sse_data(client, srv.url + OPENAI, body(OPENAI)),
            sse_data(client, srv.url + OPENAI, body(OPENAI)),
        )
    contents = set()
    for data in (first, second):
        chunks = [json.loads(d) for d in data if d != "[DONE]"]
        contents.add("".join(c["choices"][0]["delta"].get("content") or ""
                             for c in chunks if c["choices"]))
    assert contents == {"aaaa", "bbbb"}
    assert sorted(r.response_index or 0 for r in srv.requests) == [0, 1]


async def test_url_before_start_is_an_error() -> None:
    server = ScriptedModelServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
