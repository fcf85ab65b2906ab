"""No API key reaches .nexus: the Redactor, and a scan of every file after a session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import MessageAppended, ToolCallRequested, TurnStarted
from nexus_lsp.core.messages import Message, ToolCall
from nexus_lsp.storage import SessionStore
from nexus_lsp.storage.redact import REDACTED, Redactor

from .storage_helpers import full_turn

SECRET = "sk-test-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz012345"


def test_values_under_credential_keys_are_replaced() -> None:
    redactor = Redactor(environ={})
    value = {
        "headers": {"Authorization": "xyz", "X-Api-Key": "k1", "content-type": "json"},
        "body": {"api_key": "k2", "nested": [{"apiKey": "k3"}, {"password": None}]},
        "pairs": [["authorization", "k4"], ["accept", "*/*"]],
    }
    assert redactor.value(value) == {
        "headers": {"Authorization": REDACTED, "X-Api-Key": REDACTED, "content-type": "json"},
        "body": {"api_key": REDACTED, "nested": [{"apiKey": REDACTED}, {"password": None}]},
        "pairs": [["authorization", REDACTED], ["accept", "*/*"]],
    }


def test_env_secrets_and_bearer_credentials_are_replaced_anywhere() -> None:
    redactor = Redactor(environ={"OPENAI_API_KEY": SECRET, "GH_TOKEN": TOKEN,
                                 "SHORT_KEY": "abc", "HOME": "/home/someone-long"})
    text = f"url?key={SECRET}&t={TOKEN} basic dXNlcjpwYXNz abc /home/someone-long"
    assert redactor.text(text) == (
        f"url?key={REDACTED}&t={REDACTED} basic {REDACTED} abc /home/someone-long")
    assert redactor.text("Authorization: Bearer eyJhbGciOi.x-y") == (
        f"Authorization: Bearer {REDACTED}")
    assert redactor.value((1, 2.5, None, True, b"\xff" + SECRET.encode())) == [
        1, 2.5, None, True, "\ufffd" + REDACTED]


@pytest.mark.parametrize(
    "record",
    [
        {"kind": "chunk", "data": {"choices": [{"delta": {"content": "abcd"}, "index": 0}]}},
        {"kind": "chunk", "data": {"delta": f"here: {SECRET} and {TOKEN}"}},
        {"headers": {"X-Api-Key": "k1", "accept": "*/*"}, "body": {"apiKey": "k2"}},
        {"pairs": [["Authorization", "k4"], ["accept", "*/*"]]},
        {"text": "Authorization:\nBearer\neyJhbGciOiJIUzI1NiJ9"},
        {"text": "basic usage, a key and a token"},
        {"text": "lone \ud83d surrogate, then a pair \ud83d\ude00"},
        {"data": '{"api_key": "inside a string is text"}'},
        {"data": (1, 2.5, None, True), "set": {"a"}, "bytes": b"\xff" + SECRET.encode()},
    ],
)
@pytest.mark.parametrize("quoted", [False, True])
def test_json_lines_equal_the_walk_of_every_value(record: dict[str, object],
                                                  quoted: bool) -> None:
    environ = {"OPENAI_API_KEY": SECRET, "GH_TOKEN": TOKEN}
    if quoted:  # a secret JSON escapes: found in the walk, not in the serialized line
        environ["ODD_TOKEN"] = 'quote"d\\secret'
        record = {**record, "odd": 'a quote"d\\secret here'}
    redactor = Redactor(environ=environ)
    walked = json.dumps(redactor.value(record), ensure_ascii=False)
    line = redactor.json_line(record)
    assert line == walked.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    for secret in environ.values():
        assert secret not in line


async def test_an_api_key_in_the_environment_never_reaches_any_file(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_TEST_API_KEY", SECRET)
    monkeypatch.setenv("SOME_SERVICE_TOKEN", TOKEN)
    async with await SessionStore.open(root, LoggingSettings()) as store:
        await store.create_session("s", title=f"key {SECRET}", model="m",
                                   system_prompt=f"never say {TOKEN}",
                                   settings={"provider": {"note": SECRET}})
        sink, raw = store.sink("s"), store.raw_logger("s")
        raw("request", {"url": "http://127.0.0.1:9/v1/chat/completions",
                        "headers": {"Authorization": f"Bearer {SECRET}", "x-api-key": SECRET},
                        "body": {"messages": [{"role": "user", "content": f"my key {SECRET}"}]}})
        raw("chunk", f'data: {{"delta": "{TOKEN}"}}')
        raw("error", RuntimeError(f"401 for key {SECRET}"))
        call = ToolCall("c1", "write_file", {"path": ".env", "content": f"KEY={SECRET}"})
        events, index = full_turn(1, 1, f"store {SECRET} in .env", answer=f"Saved {TOKEN}",
                                  calls=[call], outputs=[f"wrote KEY={SECRET}"],
                                  reasoning=f"the key is {SECRET}")
        for event in events:
            sink(event)
        sink(TurnStarted(2, SECRET))
        sink(ToolCallRequested(2, ToolCall("c2", "x", {"api_key": "inline-secret-value"})))
        sink(MessageAppended(2, index, Message.user(TOKEN)))
        await store.flush()
        loaded = await store.load_session("s")
    assert REDACTED in loaded.messages[1].content
    files = [p for p in (root / ".nexus").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"nexus.db", "context.md", "verbose.md", "raw.jsonl"}
    for path in files:
        data = path.read_bytes()
        for secret in (SECRET, TOKEN, "inline-secret-value"):
            assert secret.encode() not in data, f"{secret[:8]}... found in {path.name}"
    raw_lines = (store.session_dir("s") / "raw.jsonl").read_text().splitlines()
    first = json.loads(raw_lines[0])["data"]
    assert first["headers"] == {"Authorization": REDACTED, "x-api-key": REDACTED}


def test_a_key_exported_later_is_redacted_after_a_rescan(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    redactor = Redactor()
    assert redactor.text("x" + SECRET) == "x" + SECRET
    monkeypatch.setenv("LATE_API_KEY", SECRET)
    monkeypatch.setattr("nexus_lsp.keys.RESCAN_S", 0.0)
    assert redactor.text("x" + SECRET) == "x" + REDACTED


def test_log_records_leave_no_secret_at_any_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """Message, %-args, traceback and stack of a record, on every handler it reaches."""
    import io
    import logging

    from nexus_lsp.keys import RedactingLogFilter

    monkeypatch.setenv("NEXUS_TEST_API_KEY", SECRET)
    streams = [io.StringIO(), io.StringIO()]
    logger = logging.getLogger("nexus_lsp.test_redacted_logging")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    redact = RedactingLogFilter()
    for stream in streams:
        handler = logging.StreamHandler(stream)
        handler.addFilter(redact)
        logger.addHandler(handler)
    try:
        logger.debug("received %s", {"params": {"prompt": f"use {SECRET}"}})
        logger.info(f"plain {SECRET}")
        try:
            raise ValueError(f"tool failed on {SECRET}")
        except ValueError:
            logger.exception("tool %s raised", "read_file", stack_info=True)
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
    for stream in streams:
        text = stream.getvalue()
        assert SECRET not in text
        assert text.count(REDACTED) == 3 and "ValueError: tool failed on" in text
