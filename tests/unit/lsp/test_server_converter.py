"""The server's converter: custom payloads stay plain dicts in and out."""

from __future__ import annotations

import json

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCResponseMessage

from nexus_lsp.lsp.converter import dict_converter


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
