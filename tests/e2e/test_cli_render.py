"""What ``nexus-lsp ask`` prints for each update (nexus_lsp.client.render)."""

from __future__ import annotations

import io
from typing import Any

from nexus_lsp.client.render import TurnRenderer, describe_outcome


def update(seq: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"sessionId": "s1", "turnId": 1, "seq": seq, "kind": kind, **fields}


def play(renderer: TurnRenderer) -> None:
    renderer.update(update(0, "turnStart", prompt="fix it"))
    renderer.update(update(1, "content", text="Let me "))
    renderer.update(update(2, "content", text="look."))
    renderer.update(
        update(
            3,
            "toolCall",
            toolCallId="c1",
            name="read_file",
            arguments={"path": "a.py"},
            status="pending",
        )
    )
    renderer.progress({"kind": "begin", "title": "batch 1 (1 tool)"})
    renderer.update(
        update(4, "toolCallUpdate", toolCallId="c1", name="read_file", status="running")
    )
    renderer.update(
        update(
            5,
            "toolCallUpdate",
            toolCallId="c1",
            name="read_file",
            status="failed",
            error="read_file: failed: a.py: no such file\nmore",
        )
    )
    renderer.progress({"kind": "end", "message": "halted at read_file"})
    renderer.update(update(6, "content", text=" Done."))
    renderer.update(
        update(7, "turnEnd", stopReason="endTurn", usage={"inputTokens": 10, "outputTokens": 3})
    )


def test_answer_on_stdout_everything_else_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    renderer = TurnRenderer(out, err)
    play(renderer)
    renderer.finish_output()
    assert out.getvalue() == "Let me look. Done.\n"
    assert err.getvalue() == (
        "▸ batch 1 (1 tool)\n"
        "⚙ read_file a.py … failed: read_file: failed: a.py: no such file\n"
        "▸ halted at read_file\n"
    )
    state = renderer.state
    assert (state.session_id, state.turn_id, state.stop_reason) == ("s1", 1, "endTurn")
    assert state.tool_calls == 1 and state.lost_updates == 0


def test_one_stream_never_shares_a_line() -> None:
    both = io.StringIO()
    renderer = TurnRenderer(both, both)
    play(renderer)
    describe_outcome(
        renderer,
        status="endTurn",
        session_id="s1",
        message="",
        error_code=None,
        transcript=".nexus/sessions/s1/context.md",
    )
    assert both.getvalue().splitlines() == [
        "Let me look.",
        "▸ batch 1 (1 tool)",
        "⚙ read_file a.py … failed: read_file: failed: a.py: no such file",
        "▸ halted at read_file",
        " Done.",
        "✓ done · session s1 · 1 tool call · tokens 10 in / 3 out",
        "  transcript: .nexus/sessions/s1/context.md",
    ]


def test_lost_updates_are_noticed() -> None:
    out, err = io.StringIO(), io.StringIO()
    renderer = TurnRenderer(out, err)
    renderer.update(update(0, "content", text="a"))
    renderer.update(update(3, "content", text="b"))
    assert renderer.state.lost_updates == 2
    assert "seq 3 after 0" in err.getvalue()


def test_an_error_outcome_names_its_code() -> None:
    out, err = io.StringIO(), io.StringIO()
    renderer = TurnRenderer(out, err)
    describe_outcome(
        renderer,
        status="error",
        session_id="s9",
        message="invalid api key",
        error_code="providerAuth",
        transcript=None,
    )
    assert err.getvalue() == "✗ turn ended in error providerAuth: invalid api key · session s9\n"


def test_a_compaction_is_one_line_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    renderer = TurnRenderer(out, err)
    renderer.update(update(1, "compaction", phase="start", tokensBefore=900))
    renderer.update(update(2, "compaction", phase="end", tokensBefore=900, tokensAfter=200,
                           summary="s"))
    renderer.update(update(3, "compaction", phase="end", tokensBefore=900, tokensAfter=700,
                           summary=None, fallback="summary cancelled"))
    assert out.getvalue() == ""
    assert err.getvalue() == (
        "context compacted: older messages summarised (~900 → ~200 tokens)\n"
        "context compacted by truncation (summary cancelled; ~900 → ~700 tokens)\n"
    )
