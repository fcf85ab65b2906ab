"""The script format: validation that names the field, chunking, ids, file loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_lsp.testing import Script, ScriptedResponse, ScriptError


def test_pieces_follow_reasoning_text_tools_order_in_chunks() -> None:
    response = ScriptedResponse.model_validate({
        "reasoning": "abcdef", "text": "hello world", "chunkSize": 4,
        "toolCalls": [{"id": "c1", "name": "read_file", "arguments": {"path": "a.py"}},
                      {"name": "edit_file", "rawArguments": "{bad"}],
    })
    pieces = response.pieces(position=3)
    kinds = [p.kind for p in pieces]
    assert kinds[:2] == ["reasoning", "reasoning"]
    assert "".join(p.text for p in pieces if p.kind == "reasoning") == "abcdef"
    assert [p.text for p in pieces if p.kind == "text"] == ["hell", "o wo", "rld"]
    starts = [p for p in pieces if p.kind == "toolStart"]
    assert [(p.tool_id, p.tool_name) for p in starts] == [("c1", "read_file"),
                                                          ("call_3_1", "edit_file")]
    first_args = [p.text for p in pieces if p.kind == "toolArguments" and p.tool_index == 0]
    assert len(first_args) > 1  # arguments are split across chunks too
    assert json.loads("".join(first_args)) == {"path": "a.py"}
    assert "".join(p.text for p in pieces if p.tool_index == 1) == "{bad"
    assert response.stop_reason() == "toolCalls"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"responses": [{"txt": "typo"}]}, "responses[0].txt"),
        ({"responses": [{"chunkSize": 0}]}, "responses[0].chunkSize"),
        ({"responses": [{"fault": {"cutAfterChunks": -1}}]}, "responses[0].fault.cutAfterChunks"),
        ({"responses": [{"fault": {"status": 200}}]}, "responses[0].fault.status"),
        ({"responses": [{"fault": {}}]}, "exactly one of"),
        ({"responses": [{"fault": {"status": 500, "stall": True}}]}, "exactly one of"),
        ({"responses": [{"fault": {"retryAfter": 1}}]}, "exactly one of"),
        ({"responses": [{"fault": {"stall": True, "message": "m"}}]},
         "message goes with status or errorAfterChunks"),
        ({"responses": [{"fault": {"errorAfterChunks": 1, "retryAfter": 1}}]},
         "retryAfter goes with status"),
        ({"responses": [{"toolCalls": [{"name": "x", "arguments": {}, "rawArguments": "{}"}]}]},
         "not both"),
        ({"responses": [{"toolCalls": [{"arguments": {}}]}]}, "responses[0].toolCalls[0].name"),
    ],
)
def test_invalid_scripts_name_what_is_wrong(data: dict[str, object], named: str) -> None:
    with pytest.raises(ScriptError, match="invalid script") as caught:
        Script.from_dict(data)
    assert named in str(caught.value)


def test_load_reads_a_file_and_names_it_when_broken(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"responses": [{"text": "hi", "delayMs": 5}]}), encoding="utf-8")
    script = Script.load(good)
    assert script.responses[0].text == "hi"
    assert script.responses[0].delay_ms == 5

    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ScriptError, match="broken.json: not valid JSON"):
        Script.load(broken)
    with pytest.raises(ScriptError, match="missing.json: cannot read"):
        Script.load(tmp_path / "missing.json")
    listed = tmp_path / "list.json"
    listed.write_text("[]", encoding="utf-8")
    with pytest.raises(ScriptError, match="expected a JSON object"):
        Script.load(listed)


def test_stall_forms_and_finish_reason_override() -> None:
    response = ScriptedResponse.model_validate({"fault": {"stall": True}})
    assert response.fault is not None and response.fault.stall_at == 0
    later = ScriptedResponse.model_validate({"fault": {"stallAfterChunks": 2}})
    assert later.fault is not None and later.fault.stall_at == 2
    capped = ScriptedResponse.model_validate({"text": "x", "finishReason": "length"})
    assert capped.stop_reason() == "length"
