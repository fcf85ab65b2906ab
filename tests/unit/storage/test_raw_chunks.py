"""raw.jsonl: a key streamed in pieces is redacted across the chunk boundaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nexus_lsp.config import LoggingSettings, ProviderSettings
from nexus_lsp.core import CancellationToken, Message
from nexus_lsp.providers import create_provider
from nexus_lsp.storage import SessionStore
from nexus_lsp.storage.raw_chunks import ChunkGuard
from nexus_lsp.storage.redact import REDACTED
from nexus_lsp.testing import ScriptedModelServer

KEY = "sk-test-Hq2Wm8Xv4Rt6Yp1Zn9Kc"


def chunk(text: str, **extra: Any) -> dict[str, Any]:
    delta = {"content": text, **extra}
    return {"kind": "chunk", "data": {"id": "c1", "choices": [{"index": 0, "delta": delta}]}}


def content(record: dict[str, Any]) -> str:
    return str(record["data"]["choices"][0]["delta"]["content"])


def play(pieces: list[str], secrets: list[str]) -> list[list[str]]:
    """What each push (and the final release) hands back to be written."""
    guard = ChunkGuard(lambda: secrets, REDACTED)
    out = [[content(r) for r in guard.push(chunk(p))] for p in pieces]
    return [*out, [content(r) for r in guard.release()]]


@pytest.mark.parametrize("cut", [1, 5, len(KEY) // 2, len(KEY) - 1])
def test_a_key_split_in_two_is_redacted_in_the_first_piece(cut: int) -> None:
    pieces = ["see ", "x" + KEY[:cut], KEY[cut:] + " end", "next"]
    assert play(pieces, [KEY]) == [["see "], [], ["x" + REDACTED, " end"], ["next"], []]


def test_a_key_streamed_a_character_at_a_time_is_redacted_whole() -> None:
    out = play(["a", *KEY, "b"], [KEY])
    written = [piece for batch in out for piece in batch]
    assert "".join(written) == f"a{REDACTED}b"
    assert written.count(REDACTED) == 1 and len(written) == len(KEY) + 2


def test_chunks_go_out_at_once_unless_they_may_start_a_key() -> None:
    assert play(["one ", "two ", "three"], [KEY]) == [["one "], ["two "], ["three"], []]
    # "s" could start the key: held until the next piece shows it does not.
    assert play(["abc s", "ky", "s"], [KEY]) == [[], ["abc s", "ky"], [], ["s"]]
    assert play([KEY[:10]], [KEY]) == [[], [KEY[:10]]]  # the stream ended: only a prefix
    assert play(["plain"], []) == [["plain"], []]


def test_fields_are_followed_apart_and_other_fields_wait_with_a_held_chunk() -> None:
    guard = ChunkGuard(lambda: [KEY], REDACTED)
    assert guard.push(chunk(KEY[:8])) == []
    # Arguments of a tool call go on meanwhile: in order, after the held chunk.
    args = {"kind": "chunk", "data": {"choices": [{"index": 0, "delta": {
        "tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]}}]}}
    assert guard.push(args) == []
    ready = guard.push(chunk(KEY[8:]))
    assert [r["data"] for r in ready] == [chunk(REDACTED)["data"], args["data"],
                                          chunk("")["data"]]
    assert guard.holding == 0


def test_the_quick_check_finds_values_that_may_start_a_key_and_only_those() -> None:
    odd = 'q"uo\\te-secret-value'  # JSON escapes it: the check reads the escaped form
    guard = ChunkGuard(lambda: [KEY, odd], REDACTED)
    line = json.dumps(chunk("plain text")["data"])  # "choices" ends with an s: a key name
    assert guard.idle and not guard.may_start_key(line)
    for ending in ("s", "sk-te", KEY[:-1], 'q"u', 'q"uo\\'):
        assert guard.may_start_key(json.dumps(chunk("text " + ending)["data"])), ending
    assert not guard.may_start_key(json.dumps(chunk("text " + KEY + "!")["data"]))
    assert guard.push(chunk("a " + odd[:4])) == []  # held: the walk agrees
    assert not guard.idle


async def test_a_streamed_key_cannot_be_rebuilt_from_raw_jsonl(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real provider's chunks through the store: join every string of every line."""
    monkeypatch.setenv("NEXUS_LLM_CREDENTIAL", KEY)
    script = {"responses": [{
        "text": f"Your key is {KEY}, keep it safe.", "reasoning": f"it is {KEY}",
        "toolCalls": [{"name": "write_file", "arguments": {"path": "k", "content": KEY}}],
        "chunkSize": 3,
    }]}
    settings = ProviderSettings(kind="openai", model="m", api_key_env="NEXUS_LLM_CREDENTIAL")
    async with (await SessionStore.open(tmp_path, LoggingSettings()) as store,
                ScriptedModelServer(script) as server):
        await store.create_session("s", title="t", model="m", system_prompt="p")
        provider = create_provider(settings.model_copy(update={"base_url":
                                                               server.openai_base_url}),
                                   raw_logger=store.raw_logger("s"))
        try:
            async with provider.stream([Message.user("hi")], [], CancellationToken()) as s:
                events = [event async for event in s]
        finally:
            await provider.aclose()
        store.raw_logger("s")("request", {"next": "request"})  # the stream's records end
        assert KEY in events[-1].message.content  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in
             (tmp_path / ".nexus" / "sessions" / "s" / "raw.jsonl").read_text().splitlines()]
    chunks = [data for line in lines  # "chunks": one read's; "chunk": one checked alone
              for data in {"chunk": [line["data"]], "chunks": line["data"]}.get(line["kind"], [])
              if isinstance(data, dict)]
    assert len(chunks) > 20
    strings: dict[str, list[str]] = {}
    for data in chunks:  # the attacker's way: every field's strings, joined
        for choice in data.get("choices", []):
            for name, value in choice.get("delta", {}).items():
                if isinstance(value, str):
                    strings.setdefault(name, []).append(value)
                for call in value if isinstance(value, list) else []:
                    strings.setdefault("arguments", []).append(
                        call.get("function", {}).get("arguments", ""))
    joined = {name: "".join(parts) for name, parts in strings.items()}
    assert joined["content"] == f"Your key is {REDACTED}, keep it safe."
    assert joined["reasoning_content"] == f"it is {REDACTED}"
    assert REDACTED in joined["arguments"]
    assert all(KEY not in text for text in joined.values())
    assert lines[-1]["kind"] == "request"


async def test_a_key_streamed_across_a_flush_is_not_split_over_two_event_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The background flush closes a run of deltas: a key's first piece waits for the rest."""
    from nexus_lsp.core.events import ContentDelta, ReasoningChanged, TurnStarted

    from .storage_helpers import query

    monkeypatch.setenv("NEXUS_TEST_API_KEY", KEY)
    async with await SessionStore.open(tmp_path, LoggingSettings()) as store:
        await store.create_session("s", title="t", model="m", system_prompt="p")
        sink = store.sink("s")
        sink(TurnStarted(1, "hi"))
        for make in (lambda t: ReasoningChanged(1, True, t), lambda t: ContentDelta(1, t)):
            sink(make("here: " + KEY[:7]))
            await store.flush()  # as the flusher does, every second, mid-stream
            sink(make(KEY[7:12]))
            await store.flush()
            sink(make(KEY[12:] + " done"))
            await store.flush()
            sink(make(" more"))  # a tail that cannot start the key
            await store.flush()
        rows = query(store.db_path, "SELECT type, data FROM events "
                     "WHERE type IN ('content', 'reasoning') ORDER BY id")
        verbose = (store.session_dir("s") / "verbose.md").read_text()
    texts = {kind: "".join(json.loads(data)["text"] for k, data in rows if k == kind)
             for kind in ("content", "reasoning")}
    assert texts == {"content": f"here: {REDACTED} done more",
                     "reasoning": f"here: {REDACTED} done more"}
    assert all(KEY[:7] not in data for _, data in rows)  # no row holds a piece either
    assert KEY[:7] not in verbose and REDACTED in verbose


async def test_a_key_split_across_two_reads_lines_is_redacted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``chunks`` lines (one per network read): a key whose start ends one read and whose
    rest begins the next is redacted; the held chunk goes out on the next read's line."""
    monkeypatch.setenv("NEXUS_LLM_CREDENTIAL", KEY)
    async with await SessionStore.open(tmp_path, LoggingSettings()) as store:
        await store.create_session("s", title="t", model="m", system_prompt="p")
        raw = store.raw_logger("s")
        raw("chunks", [chunk("plain ")["data"], chunk("see x" + KEY[:6])["data"]])
        raw("chunks", [chunk(KEY[6:] + " end")["data"], chunk(" and a whole " + KEY)["data"]])
        raw("chunks", [chunk(" last")["data"]])
        raw("request", {"next": "request"})
    lines = [json.loads(line) for line in
             (tmp_path / ".nexus" / "sessions" / "s" / "raw.jsonl").read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["chunks", "chunks", "chunks", "request"]
    assert [len(line["data"]) for line in lines[:3]] == [1, 3, 1]
    texts = [content({"data": data}) for line in lines[:3] for data in line["data"]]
    assert texts == ["plain ", "see x" + REDACTED, " end", " and a whole " + REDACTED, " last"]
