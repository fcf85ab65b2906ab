"""What cut an answer survives storage: a cancel (``cancelled``) or an error
(``interrupted``), in the one ``cancelled`` column (1 and 2), and in context.md."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nexus_lsp.core.messages import Message
from nexus_lsp.lsp.results import message_json
from nexus_lsp.storage import markdown
from nexus_lsp.storage.records import StoredMessage, message_from_row, message_row

AT = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "column", "shown"),
    [
        (Message(role="assistant", content="whole"), 0, {}),
        (Message(role="assistant", content="so far", cancelled=True), 1, {"cancelled": True}),
        (Message(role="assistant", content="so far", interrupted=True), 2,
         {"interrupted": True}),
    ],
)
def test_the_cut_marker_round_trips_and_is_shown(
    message: Message, column: int, shown: dict[str, bool]
) -> None:
    row = message_row("s", StoredMessage(3, 1, message, True, "t"), None)
    assert row[8] == column
    # The SELECT order: ord, turn, role, content, tool_calls, tool_call_id, name,
    # cancelled, is_error, in_context, created_at.
    selected = (row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9],
                row[11], row[12])
    assert message_from_row(selected).message == message
    assert message_json(message) == {"role": "assistant", "content": message.content, **shown}


def test_context_md_says_what_cut_the_answer() -> None:
    cut = markdown.message(3, Message(role="assistant", content="so far", interrupted=True),
                           AT, 2000)
    assert "_(interrupted: an error cut the answer here)_" in cut
    assert "cancelled" not in cut
    stopped = markdown.message(3, Message(role="assistant", content="so", cancelled=True),
                               AT, 2000)
    assert "_(cancelled: the answer was cut here)_" in stopped
