"""The nexus.ask prompt, selections in every encoding, code actions."""

from __future__ import annotations

from lsprotocol import types

from nexus_lsp import wire
from nexus_lsp.config import CodeActionSetting
from nexus_lsp.lsp.commands import ask_prompt, code_actions, selection_range

UTF8 = types.PositionEncodingKind.Utf8
UTF16 = types.PositionEncodingKind.Utf16


def pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def test_selection_in_utf16_and_utf8() -> None:
    text = "a = '😀'\nb = 2\nc = 3\n"
    selected, first, last = selection_range(text, pos(0, 5), pos(1, 1), UTF16)
    assert (selected, first, last) == ("😀'\nb", 1, 2)
    selected, _, _ = selection_range(text, pos(0, 5), pos(0, 9), UTF8)
    assert selected == "😀"


def test_a_selection_ending_at_a_line_start_excludes_that_line() -> None:
    text = "one\ntwo\nthree\n"
    assert selection_range(text, pos(1, 0), pos(2, 0), UTF16) == ("two\n", 2, 2)
    assert selection_range(text, pos(2, 0), pos(0, 0), UTF16) == ("one\ntwo\n", 1, 2)


def test_ask_prompt_formats() -> None:
    assert ask_prompt("Why?") == "Why?"
    assert ask_prompt("Why?", path="a.py") == "Why?\n\nThe user is looking at `a.py`."
    assert ask_prompt("Why?", path="a.py", first_line=4) == (
        "Why?\n\nThe user is looking at `a.py`, line 4."
    )
    prompt = ask_prompt("Fix.", path="src/m.rs", selection="fn x() {}", first_line=3, last_line=3)
    assert prompt == "Fix.\n\nSelection from `src/m.rs`, line 3:\n```rust\nfn x() {}\n```"


def test_a_selection_with_fences_gets_a_longer_fence() -> None:
    prompt = ask_prompt("?", path="README.md", selection="```\ncode\n```\n", first_line=1,
                        last_line=3)
    assert "````markdown\n```\ncode\n```\n````" in prompt


def params(only: list[str] | None = None) -> types.CodeActionParams:
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri="file:///w/a.py"),
        range=types.Range(start=pos(1, 0), end=pos(3, 2)),
        context=types.CodeActionContext(diagnostics=[], only=only),
    )


SETTINGS = (CodeActionSetting(title="Nexus: Document", prompt="Add docstrings."),)


def test_code_actions_carry_the_nexus_ask_command() -> None:
    (action,) = code_actions(SETTINGS, params())
    assert action.title == "Nexus: Document" and action.kind == "refactor.nexus"
    assert action.command is not None and action.command.command == wire.COMMAND_ASK
    assert action.command.arguments == [{
        "prompt": "Add docstrings.", "uri": "file:///w/a.py",
        "range": {"start": {"line": 1, "character": 0}, "end": {"line": 3, "character": 2}},
    }]


def test_code_actions_follow_only() -> None:
    assert len(code_actions(SETTINGS, params(["refactor"]))) == 1
    assert len(code_actions(SETTINGS, params(["refactor.nexus"]))) == 1
    assert code_actions(SETTINGS, params(["quickfix"])) == []
    assert code_actions(SETTINGS, params(["refactor.extract"])) == []
    assert code_actions((), params()) == []
