"""The pure parts of the MCP client: settings and .mcp.json validation, result mapping,
tool names, schema checks without jsonschema, the registry's replaceable group."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace as O
from typing import Any

import pytest

from nexus_lsp.config import McpServerSettings, parse_mcp_servers, parse_settings
from nexus_lsp.errors import ToolError
from nexus_lsp.mcp import read_project_servers, tool_name
from nexus_lsp.mcp.project import ProjectServers
from nexus_lsp.mcp.results import result_text
from nexus_lsp.skills import SkillArguments, SkillOutput, SkillRegistry
from nexus_lsp.skills.base import Skill
from nexus_lsp.skills.schema import _shallow_check


def test_mcp_servers_setting_names_each_invalid_entry() -> None:
    settings, problems = parse_settings({"mcpServers": {
        "fs": {"command": "npx", "args": ["-y", "server"], "env": {"A": "1"}, "cwd": "sub"},
        "web": {"url": "https://example.test/mcp", "headers": {"Authorization": "x"}},
        "none": {},
        "both": {"command": "x", "url": "http://y"},
        "old": {"type": "sse", "url": "http://y"},
        "mixed": {"url": "http://y", "args": ["a"]},
    }})
    assert list(settings.mcp_servers) == ["fs", "web"]
    assert settings.mcp_servers["fs"].transport == "stdio"
    assert settings.mcp_servers["web"].transport == "http"
    assert problems == [
        "mcpServers.none: Value error, give either command (a stdio server) or url "
        "(an HTTP server)",
        "mcpServers.both: Value error, give either command (a stdio server) or url "
        "(an HTTP server)",
        "mcpServers.old: Value error, the SSE transport is not supported: use a "
        "streamable-HTTP url",
        "mcpServers.mixed: Value error, args, env and cwd are for command servers, not url ones",
    ]


def test_mcp_server_names_become_tool_names() -> None:
    _, problems = parse_settings({"mcpServers": {"my server": {"command": "x"}}})
    assert problems == ["mcpServers: Value error, server name 'my server': use 1-40 letters, "
                        "digits, _ or - (it becomes part of tool names)"]
    assert tool_name("fs", "read.file v2") == "mcp__fs__read_file_v2"
    assert len(tool_name("s", "x" * 100)) == 64


def test_project_file(tmp_path: Path) -> None:
    assert read_project_servers(tmp_path) == ({}, [])
    (tmp_path / ".mcp.json").write_text("{not json")
    servers, problems = read_project_servers(tmp_path)
    assert servers == {} and problems[0].startswith(".mcp.json: not valid JSON")
    (tmp_path / ".mcp.json").write_text(json.dumps({"servers": {}}))
    assert read_project_servers(tmp_path)[1] == ['.mcp.json: expected {"mcpServers": {...}}']
    (tmp_path / ".mcp.json").write_text(json.dumps(
        {"mcpServers": {"ok": {"command": "x"}, "bad": {"command": 1}}}))
    servers, problems = read_project_servers(tmp_path)
    assert servers == {"ok": McpServerSettings(command="x")}
    assert problems == [".mcp.json mcpServers.bad.command: Input should be a valid string"]
    reader = ProjectServers(tmp_path)
    assert reader.read()[1] and reader.read()[1] == []  # problems once per change
    assert parse_mcp_servers([], "x") == ({}, ["x: expected an object, got list"])


def test_results_as_the_model_reads_them() -> None:
    text = O(type="text", text="hello")
    image = O(type="image", data="AAAA", mime_type="image/jpeg")
    audio = O(type="audio", data="AAAAAA==", mime_type="audio/wav")
    blob = O(type="resource", resource=O(uri="file:///a.bin", mime_type=None, blob="AAAA"))
    doc = O(type="resource", resource=O(uri="file:///a.txt", text="inside"))
    link = O(type="resource_link", uri="file:///b", name="b")
    result = O(content=[text, image, audio, blob, doc, link], structured_content=None,
               is_error=False)
    assert result_text(result) == ("hello\n[image: image/jpeg, 3 bytes]\n"
                                   "[audio: audio/wav, 4 bytes]\n"
                                   "[resource file:///a.bin: unknown type, 3 bytes]\n"
                                   "inside\n[resource file:///b (b)]", False)
    structured = O(content=[], structured_content={"sum": 5}, is_error=False)
    assert json.loads(result_text(structured)[0]) == {"sum": 5}
    both = O(content=[text], structured_content={"x": 1}, is_error=False)
    assert result_text(both) == ("hello", False)  # the text already says it
    assert result_text(O(content=[text], structured_content=None, is_error=True)) == (
        "hello", True)


def test_schema_check_without_jsonschema() -> None:
    schema: dict[str, Any] = {"type": "object", "required": ["a"], "additionalProperties": False,
                              "properties": {"a": {"type": "integer"}, "b": {"type": ["string"]}}}
    _shallow_check(schema, {"a": 1, "b": "x"})
    with pytest.raises(ToolError) as raised:
        _shallow_check(schema, {"a": True, "c": 1})
    assert raised.value.for_tool("t") == (
        "t: invalidArguments: a: expected integer; c: Extra inputs are not permitted")
    with pytest.raises(ToolError) as raised:
        _shallow_check(schema, {})
    assert raised.value.detail == "a: Field required"


class _Args(SkillArguments):
    pass


def _skill(tool: str) -> Skill[_Args]:
    class Named(Skill[_Args]):
        name = tool
        description = tool
        arguments = _Args

        async def run(self, args: _Args, token: Any) -> SkillOutput:
            return SkillOutput(tool)

    return Named()


def test_registry_group_is_replaced_and_never_shadows() -> None:
    registry = SkillRegistry([_skill("read_file")])
    assert registry.replace_group("mcp", [_skill("mcp__a__x"), _skill("read_file")]) == [
        "read_file"]
    assert registry.names == ["read_file", "mcp__a__x"]
    assert registry.replace_group("mcp", [_skill("mcp__b__y")]) == []
    assert registry.names == ["read_file", "mcp__b__y"]
    registry.replace_group("mcp", [])
    assert registry.names == ["read_file"]


def test_acp_server_lists() -> None:
    from nexus_lsp.mcp import from_acp

    configs, problems = from_acp([
        {"name": "fs", "command": "npx", "args": ["-y", "srv"],
         "env": [{"name": "A", "value": "1"}]},
        {"type": "http", "name": "web", "url": "https://x.test/mcp",
         "headers": [{"name": "Authorization", "value": "Bearer t"}]},
        {"name": "bad name", "command": "x"},
        {"name": "nothing"},
    ])
    assert configs == {
        "fs": McpServerSettings(command="npx", args=("-y", "srv"), env={"A": "1"}),
        "web": McpServerSettings(url="https://x.test/mcp", headers={"Authorization": "Bearer t"}),
    }
    assert problems[0] == "mcpServers: server name 'bad name': use 1-40 letters, digits, _ or -"
    assert problems[1] == ("mcpServers.nothing: Value error, give either command (a stdio "
                           "server) or url (an HTTP server)")


def test_definitions_are_built_once_per_skill() -> None:
    registry = SkillRegistry([_skill("read_file")])
    first = registry.definitions()
    assert registry.definitions()[0] is first[0]  # not rebuilt at every turn
    registry.replace_group("mcp", [_skill("mcp__a__x")])
    again = registry.definitions()
    assert again[0] is first[0] and [d.name for d in again] == ["read_file", "mcp__a__x"]
