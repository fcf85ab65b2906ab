"""The message that ends a background nexus.ask (protocol v2 §7)."""

from __future__ import annotations

from lsprotocol import types

from nexus_lsp.core.events import TurnError, TurnResult
from nexus_lsp.lsp.ask import answer_summary

PATH = ".nexus/sessions/s/context.md"


def summary(result: TurnResult) -> tuple[types.MessageType, str]:
    return answer_summary(result, PATH)


def test_the_answers_first_line_and_the_transcript() -> None:
    result = TurnResult("s", 1, "endTurn", "\n  It greets   people.\n\nMore text.")
    assert summary(result) == (
        types.MessageType.Info, f"Nexus: It greets people. — transcript: {PATH}"
    )


def test_stop_reasons_say_why_and_errors_are_errors() -> None:
    assert summary(TurnResult("s", 1, "cancelled", "Once"))[1].startswith(
        "Nexus: cancelled: Once —"
    )
    assert summary(TurnResult("s", 1, "cancelled", ""))[1].startswith(
        "Nexus: cancelled: (no text in the answer) —"
    )
    assert summary(TurnResult("s", 1, "maxIterations", "Step 9"))[1].startswith(
        "Nexus: stopped after too many steps: Step 9 —"
    )
    failed = TurnResult("s", 1, "error", "", error=TurnError("auth", "HTTP 401: bad key"))
    assert summary(failed) == (
        types.MessageType.Error, f"Nexus: HTTP 401: bad key (transcript: {PATH})"
    )


def test_long_lines_are_cut() -> None:
    level, text = summary(TurnResult("s", 1, "endTurn", "x" * 500))
    assert "x" * 199 + "…" in text and "x" * 200 not in text


def test_without_a_transcript_the_message_names_none() -> None:
    """``logging.streams`` without ``context``: no context.md is written."""
    assert answer_summary(TurnResult("s", 1, "endTurn", "Hi."), None) == (
        types.MessageType.Info, "Nexus: Hi."
    )
