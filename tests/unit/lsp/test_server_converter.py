"""The server's converter: custom payloads stay plain dicts in and out."""

from __future__ import annotations

import json

import pytest
from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCRequestMessage, JsonRPCResponseMessage

from nexus_lsp.lsp.converter import describe_structure_error, dict_converter


def test_results_go_out_as_the_dicts_they_are_with_lsp_values_inside_serialized() -> None:
    protocol = LanguageServer("t", "1", converter_factory=dict_converter).protocol
    edit = types.WorkspaceEdit(changes={"file:///a.py": [types.TextEdit(
        range=types.Range(start=types.Position(line=0, character=0),
                          end=types.Position(line=0, character=2)), new_text="x")]})
    result = {"messages": [{"role": "user", "content": "hi"}], "edit": edit,
              "kind": types.MessageType.Error, "empty": None}
    message = JsonRPCResponseMessage(id=7, jsonrpc="2.0", result=result)
    assert dict_converter().unstructure(result) is result  # not copied value by value
    wire = json.loads(json.dumps(message, default=protocol._serialize_message))
    assert wire == {
        "id": 7, "jsonrpc": "2.0",
        "result": {
            "messages": [{"role": "user", "content": "hi"}],
            "edit": {"changes": {"file:///a.py": [{
                "range": {"start": {"line": 0, "character": 0},
                          "end": {"line": 0, "character": 2}},
                "newText": "x"}]}},
            "kind": 1,
            "empty": None,
        },
    }


def test_lsp_types_with_mappings_still_unstructure_field_by_field() -> None:
    edit = types.WorkspaceEdit(changes={"file:///b.py": []}, document_changes=None)
    assert dict_converter().unstructure(edit) == {"changes": {"file:///b.py": []}}


def test_generic_messages_take_their_known_members_and_params_may_be_left_out() -> None:
    converter = dict_converter()
    message = converter.structure(
        {"jsonrpc": "2.0", "id": 1, "method": "nexus/session/list", "extra": 1},
        JsonRPCRequestMessage,
    )
    assert message.params is None and message.method == "nexus/session/list"


def test_an_array_is_only_a_json_array() -> None:
    converter = dict_converter()
    for arguments in ({"prompt": "hi"}, "abc"):
        with pytest.raises(Exception) as caught:
            converter.structure(
                {"command": "nexus.ask", "arguments": arguments}, types.ExecuteCommandParams
            )
        message, field = describe_structure_error(caught.value)
        assert field == "arguments" and "expected an array" in message
    params = converter.structure(
        {"command": "c", "arguments": [{"a": 1}]}, types.ExecuteCommandParams
    )
    assert list(params.arguments or ()) == [{"a": 1}]


def test_structure_errors_name_the_wire_fields() -> None:
    with pytest.raises(Exception) as caught:
        dict_converter().structure({"textDocument": {"uri": "file:///a"}}, types.CodeActionParams)
    message, field = describe_structure_error(caught.value)
    assert message == "range: required; context: required" and field == "range"
