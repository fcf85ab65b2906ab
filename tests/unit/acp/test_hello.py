"""The early ``initialize`` answer: the ACP schema accepts it, and it is light."""

from __future__ import annotations

import subprocess
import sys

import acp
from acp.schema import InitializeResponse

from nexus_lsp.acp.hello import PROTOCOL_VERSION, client_fs, initialize_answer, initialize_result


def test_the_answer_is_a_valid_initialize_response() -> None:
    assert PROTOCOL_VERSION == acp.PROTOCOL_VERSION
    result = initialize_result(1)
    parsed = InitializeResponse.model_validate(result)
    assert parsed.agent_capabilities is not None
    assert parsed.agent_capabilities.load_session is True
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
    assert dumped == result  # nothing the schema does not know, nothing lost
    assert initialize_result(7)["protocolVersion"] == 1


def test_only_a_valid_initialize_is_answered_early() -> None:
    ok = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}
    answer = initialize_answer(ok)
    assert answer is not None and answer["id"] == 1
    for bad in (
        {**ok, "method": "session/new"},
        {k: v for k, v in ok.items() if k != "id"},
        {**ok, "params": {"protocolVersion": "1"}},
        {**ok, "params": {"protocolVersion": True}},
        {**ok, "params": []},
    ):
        assert initialize_answer(bad) is None, bad


def test_client_fs() -> None:
    params = {"clientCapabilities": {"fs": {"readTextFile": True, "writeTextFile": False}}}
    assert client_fs(params) == (True, False)
    assert client_fs({"clientCapabilities": {"fs": {"readTextFile": "yes"}}}) == (False, False)
    assert client_fs({}) == (False, False)


def test_the_path_to_the_initialize_answer_is_light() -> None:
    """`nexus-lsp acp` answers initialize before the ACP package and pydantic load."""
    code = (
        "import sys, nexus_lsp.cli, nexus_lsp.acp.serve, nexus_lsp.host.settings_files\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('acp', 'pydantic', 'aiosqlite', 'httpx', 'pygls'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
