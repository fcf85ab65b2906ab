"""History → wire conversion details that the end-to-end body tests do not reach."""

from __future__ import annotations

import pytest

from nexus_lsp.core import Message, ToolCall
from nexus_lsp.errors import ProviderBadRequestError
from nexus_lsp.providers.anthropic_messages import anthropic_messages
from nexus_lsp.providers.api_errors import error_message
from nexus_lsp.providers.openai_chat import openai_messages
from nexus_lsp.providers.tool_arguments import decode_tool_call

FLAGGED = ToolCall("c1", "edit_file", {}, raw_arguments="{oops",
                   arguments_error="the arguments are not valid JSON")


def test_a_flagged_call_goes_back_with_an_empty_object_not_its_broken_text() -> None:
    # Local servers re-parse history arguments; broken JSON there fails the next request.
    history = [Message.user("x"), Message.assistant("", (FLAGGED,))]
    wire = openai_messages(history)
    assert wire[1]["tool_calls"][0]["function"]["arguments"] == "{}"
    _, turns = anthropic_messages(history)
    assert turns[1]["content"] == [{"type": "tool_use", "id": "c1", "name": "edit_file",
                                    "input": {}}]


def test_several_system_messages_join_into_the_system_parameter() -> None:
    system, turns = anthropic_messages([
        Message.system("one"), Message.user("hi"), Message.system("two"),
        Message.assistant("answer"),
    ])
    assert system == "one\n\ntwo"
    assert [t["role"] for t in turns] == ["user", "assistant"]


def test_tool_message_without_call_id_is_refused_clearly() -> None:
    broken = [Message.user("x"), Message(role="tool", content="out")]
    with pytest.raises(ProviderBadRequestError, match="history message 1"):
        openai_messages(broken)
    with pytest.raises(ProviderBadRequestError, match="history message 1"):
        anthropic_messages(broken)


@pytest.mark.parametrize(
    ("text", "arguments", "error"),
    [
        ("", {}, None),
        ("  ", {}, None),
        ('{"a": [1, 2]}', {"a": [1, 2]}, None),
        ('"just a string"', {}, "the arguments must be a JSON object, not a string"),
        ("null", {}, "the arguments must be a JSON object, not null"),
        ("3", {}, "the arguments must be a JSON object, not a number"),
        ('{"a": 1', {}, "the arguments are not valid JSON (Expecting ',' delimiter)"),
    ],
)
def test_decode_tool_call(text: str, arguments: dict[str, object], error: str | None) -> None:
    call = decode_tool_call("id", "name", text)
    assert call.arguments == arguments
    assert call.arguments_error == error
    assert call.raw_arguments == (text if error else None)


def test_error_message_extraction() -> None:
    assert error_message('{"error": {"message": "m1", "type": "t"}}') == "m1"
    assert error_message('{"type": "error", "error": {"type": "x", "message": "m2"}}') == "m2"
    assert error_message('{"error": "m3"}') == "m3"
    assert error_message('{"detail": "m4"}') == "m4"
    assert error_message("plain\n  text") == "plain text"
    assert len(error_message("x" * 10_000)) == 300
