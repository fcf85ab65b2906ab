"""TextCoalescer: leading edge at once, a window's deltas together, order and text kept."""

from __future__ import annotations

import asyncio

from nexus_lsp.host.coalesce import MAX_CHARS, WINDOW_SECONDS, TextCoalescer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_leading_edge_then_window_then_kind_switch() -> None:
    sent: list[tuple[str, str]] = []

    async def send(kind: str, text: str) -> None:
        sent.append((kind, text))

    clock = Clock()
    text = TextCoalescer(send, clock)
    await text.add("message", "Hel")          # after a quiet spell: at once
    assert sent == [("message", "Hel")]
    await text.add("message", "lo")           # within the window: held
    await text.add("message", " world")
    assert sent == [("message", "Hel")]
    await text.add("thought", "hmm")          # another kind flushes the pending first
    assert sent[1] == ("message", "lo world")
    await text.aclose()
    assert sent == [("message", "Hel"), ("message", "lo world"), ("thought", "hmm")]


async def test_the_window_flushes_by_itself() -> None:
    sent: list[str] = []
    done = asyncio.Event()

    async def send(kind: str, text: str) -> None:
        sent.append(text)
        if len(sent) == 2:
            done.set()

    clock = Clock()
    text = TextCoalescer(send, clock)
    await text.add("message", "a")
    await text.add("message", "b")
    await text.add("message", "c")
    await asyncio.wait_for(done.wait(), 5)  # the timer sent "bc" with no further event
    assert sent == ["a", "bc"]
    await text.aclose()
    assert sent == ["a", "bc"]


async def test_max_chars_sends_at_once_and_nothing_is_lost() -> None:
    sent: list[str] = []

    async def send(kind: str, text: str) -> None:
        sent.append(text)

    clock = Clock()
    text = TextCoalescer(send, clock)
    chunks = ["x" * 100 for _ in range(100)]
    for chunk in chunks:
        await text.add("message", chunk)
    assert any(len(s) >= MAX_CHARS for s in sent)
    clock.now += WINDOW_SECONDS * 10
    await text.aclose()
    assert "".join(sent) == "".join(chunks)
