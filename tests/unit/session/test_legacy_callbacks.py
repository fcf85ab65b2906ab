"""The deprecated ``on_tool_complete``: the seed's three-argument form still fires
(with a warning saying so); a callback of neither form is refused when set."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_lsp.core.events import BatchProgress
from nexus_lsp.core.messages import ToolCall, ToolResult
from nexus_lsp.session.callbacks import SessionCallbacks
from nexus_lsp.testing.fake_provider import FakeAnswer

from .conftest import SessionFactory


async def test_a_three_argument_on_tool_complete_fires_without_the_error(
    make_session: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    session, _, _ = make_session(
        FakeAnswer(tool_calls=[ToolCall("c1", "read_file", {"path": "a.txt"}),
                               ToolCall("c2", "read_file", {"path": "missing.txt"})]),
        FakeAnswer(text=["done"]),
    )
    seen: list[tuple[str, str, bool]] = []

    def seed_style(name: str, call_id: str, ok: bool) -> None:
        seen.append((name, call_id, ok))

    with pytest.warns(DeprecationWarning, match=r"three-argument \(name, id, ok\) form"):
        session.callbacks.on_tool_complete = seed_style
    await session.send("go")
    assert sorted(seen) == [("read_file", "c1", True), ("read_file", "c2", False)]
    assert "raised" not in caplog.text


def test_the_four_argument_form_gets_the_error_text() -> None:
    callbacks = SessionCallbacks()
    seen: list[Any] = []
    progress = BatchProgress(1, 0, ToolResult("c1", "t", error="boom", status="failed"), 1, 1)
    with pytest.warns(DeprecationWarning, match="use on_batch_progress"):
        callbacks.on_tool_complete = lambda name, cid, ok, error=None: seen.append(error)
    callbacks.dispatch(progress)
    with pytest.warns(DeprecationWarning):
        callbacks.on_tool_complete = lambda *args: seen.append(args)
    callbacks.dispatch(progress)
    assert seen == ["boom", ("t", "c1", False, "boom")]


@pytest.mark.parametrize("callback", [lambda: None, lambda a, b: None, lambda a, b, c, d, e: None])
def test_a_callback_of_neither_form_is_refused_when_set(callback: Any) -> None:
    callbacks = SessionCallbacks()
    with pytest.raises(TypeError, match=r"must accept \(name, id, ok, error\)"):
        callbacks.on_tool_complete = callback
    assert callbacks.on_tool_complete is None


def test_a_value_that_is_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="must be callable"):
        SessionCallbacks().on_tool_complete = "print"  # type: ignore[assignment]
