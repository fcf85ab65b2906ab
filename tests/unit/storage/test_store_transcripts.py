"""context.md, verbose.md and raw.jsonl: content, truncation, timestamps, streams, failures."""

from __future__ import annotations

import json
import logging
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nexus_lsp.config import LoggingSettings
from nexus_lsp.core.events import MessageAppended, TurnEnded, TurnError, TurnResult, TurnStarted
from nexus_lsp.core.messages import Message, ToolCall, Usage
from nexus_lsp.storage import SessionStore
from nexus_lsp.storage import markdown as md

from .storage_helpers import full_turn, query

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def test_truncation_points_to_the_full_text_in_the_database() -> None:
    text = "a" * 10_123
    out = md.truncate(text, 2000, 12)
    assert "a" * 2000 in out and "a" * 2001 not in out
    assert out.endswith("… 8,123 more characters in nexus.db, message 12\n")
    assert "more characters" not in md.truncate("short", 2000, 3)
    assert "more characters" not in md.truncate(text, 0, 3)  # 0: never cut


def test_fences_outgrow_backticks_in_the_text() -> None:
    out = md.fence("code:\n````\nx\n````")
    assert out.startswith("`````\n") and out.endswith("\n`````\n")


def test_times_have_date_and_seconds_in_utc() -> None:
    moment = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    assert md.md_time(moment) == "2025-03-04T05:06:07Z"


async def test_context_md_holds_the_conversation(root: Path) -> None:
    settings = LoggingSettings(markdown_truncate=50)
    async with await SessionStore.open(root, settings) as store:
        await store.create_session("s", title="Fixing", model="m", system_prompt="Be kind.")
        sink = store.sink("s")
        call = ToolCall("call-1", "edit_file", {"path": "a.py", "oldText": "x", "newText": "y"})
        events, _ = full_turn(1, 1, "Please fix a.py", answer="Fixed.", calls=[call],
                              outputs=["z" * 1234])
        for event in events:
            sink(event)
        text = store.transcript_path("s").read_text(encoding="utf-8")
    assert text.startswith("# Fixing\n")
    assert "Be kind." in text and "Please fix a.py" in text and "Fixed." in text
    assert "**Tool call** `edit_file` · `call-1`" in text and '"oldText": "x"' in text
    assert "### Tool result `edit_file` · `call-1`" in text
    assert "z" * 50 in text and "z" * 51 not in text
    assert "… 1,184 more characters in nexus.db, message 3" in text
    assert len(STAMP.findall(text)) >= 5
    assert "_Turn 1 ended · endTurn" in text


async def test_verbose_md_holds_reasoning_timings_and_tokens(root: Path) -> None:
    async with await SessionStore.open(root, LoggingSettings()) as store:
        await store.create_session("s", title="t", model="m", system_prompt="p")
        sink = store.sink("s")
        events, _ = full_turn(1, 1, "q", reasoning="Let me think about it.",
                              calls=[ToolCall("c1", "read_file", {"path": "a"})])
        ended = TurnEnded(1, TurnResult("s", 1, "endTurn", "done", usage=Usage(120, 7)))
        for event in events[:-1] + [ended]:
            sink(event)
        text = (store.session_dir("s") / "verbose.md").read_text(encoding="utf-8")
    assert "### Reasoning" in text and "Let me think about it." in text
    assert re.search(r"tool `read_file` \(`c1`\) completed in \d+\.\d{3} s", text)
    assert re.search(r"message 1 \(user\): ~\d+ tokens", text)
    assert "batch 0: 1 call(s) one after another: read_file" in text
    assert re.search(r"batch 0: completed in \d+\.\d{3} s", text)
    assert "tokens in 120, out 7" in text and STAMP.search(text)


async def test_streams_follow_the_settings_at_run_time(root: Path) -> None:
    async with await SessionStore.open(root, LoggingSettings(streams=("context",))) as store:
        await store.create_session("s", title="t", model="m", system_prompt="p")
        folder = store.session_dir("s")
        sink, raw = store.sink("s"), store.raw_logger("s")
        sink(TurnStarted(1, "first"))
        raw("request", {"model": "m"})
        await store.flush()  # entries are written at the store's flushes
        assert sorted(p.name for p in folder.iterdir()) == ["context.md"]

        store.set_logging(LoggingSettings(streams=("raw", "verbose")))
        before = (folder / "context.md").read_text()
        sink(MessageAppended(1, 1, Message.user("second")))
        raw("chunk", {"delta": "hi"})
        await store.flush()
        assert (folder / "context.md").read_text() == before
        assert "message 1 (user)" in (folder / "verbose.md").read_text()
        (line,) = (folder / "raw.jsonl").read_text().splitlines()
        record = json.loads(line)
        assert record["kind"] == "chunk" and record["data"] == {"delta": "hi"}
        assert STAMP.sub("", md.md_time(datetime.fromisoformat(record["time"]))) == ""


async def test_a_failing_transcript_never_breaks_the_turn(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with await SessionStore.open(root, LoggingSettings()) as store:
        await store.create_session("s", title="t", model="m", system_prompt="p")
        folder = store.session_dir("s")
        store.set_logging(LoggingSettings(streams=()))  # closes the open handles
        shutil.rmtree(folder)
        folder.write_text("a file where the folder was")
        store.set_logging(LoggingSettings())
        sink = store.sink("s")
        with caplog.at_level(logging.INFO, logger="nexus_lsp.storage"):
            events, index = full_turn(1, 1, "hi")
            for event in events:
                sink(event)
            failures = [r for r in caplog.records if "cannot write" in r.getMessage()]
            assert len(failures) == 2  # once per stream, not once per entry
            folder.unlink()
            sink(TurnStarted(2, "again"))
            await store.flush()
            assert "works again" in caplog.text
        assert (folder / "context.md").exists()
        assert len((await store.load_session("s")).messages) == index


async def test_surrogates_and_broken_text_are_stored_replaced(root: Path) -> None:
    async with await SessionStore.open(root, LoggingSettings()) as store:
        await store.create_session("s", title="t\udcff", model="m", system_prompt="p")
        sink = store.sink("s")
        text = "bad \udcff byte, pair \ud83d\ude00, nul \x00 end"
        sink(TurnStarted(1, text))
        sink(MessageAppended(1, 1, Message.user(text)))
        call = ToolCall("c\udc80", "read_file", {"path": "f\udcff.txt"})
        sink(MessageAppended(1, 2, Message.assistant(text, (call,))))
        store.raw_logger("s")("response", {"body": text, "bytes": b"\xff\xfe ok"})
        loaded = await store.load_session("s")
    expected = "bad \ufffd byte, pair \U0001f600, nul \x00 end"
    assert loaded.messages[1].content == expected and loaded.messages[2].content == expected
    assert loaded.messages[2].tool_calls[0].arguments == {"path": "f\ufffd.txt"}
    assert loaded.record.title == "t\ufffd"
    for path in (root / ".nexus").rglob("*"):
        if path.is_file() and path.suffix in (".md", ".jsonl"):
            path.read_bytes().decode("utf-8")  # strictly valid UTF-8
    assert query(root / ".nexus" / "nexus.db", "SELECT count(*) FROM messages") == [(3,)]


def _line(store: SessionStore, turn: int) -> str:
    line = store.answer_line("s", turn)
    assert line is not None
    return store.transcript_path("s").read_text(encoding="utf-8").splitlines()[line]


async def test_answer_line_points_at_each_turns_answer_also_after_a_restart(root: Path) -> None:
    """Editors open the transcript there (window/showDocument's selection)."""
    async with await SessionStore.open(root, LoggingSettings()) as store:
        await store.create_session("s", title="t", model="m", system_prompt="p\n\nmore")
        events, index = full_turn(1, 1, "q\nwith lines", answer="First answer.\nMore.",
                                  calls=[ToolCall("c1", "read_file", {"path": "a"})],
                                  outputs=["x\ny\nz"])
        for event in events:
            store.sink("s")(event)
        assert _line(store, 1) == "First answer."
    # a new server: the line count starts from the file it appends to
    async with await SessionStore.open(root, LoggingSettings()) as store:
        await store.load_session("s")
        events, index = full_turn(2, index, "again", answer="Second answer.")
        for event in events:
            store.sink("s")(event)
        assert _line(store, 2) == "Second answer."
        failed = TurnResult("s", 3, "error", "", error=TurnError("auth", "HTTP 401"))
        for event in [TurnStarted(3, "third"), MessageAppended(3, index, Message.user("third")),
                      TurnEnded(3, failed)]:
            store.sink("s")(event)
        assert _line(store, 3).startswith("_Turn 3 ended · error")
        assert store.answer_line("s", 4) is None
        assert store.answer_line("other", 1) is None
