"""A key-leak hunt through the real server: the key of ``provider.apiKeyEnv`` (a name no
suffix rule knows) is pasted into a prompt, written, read and failed on by tools,
said by the model in pieces across stream chunks, and quoted by the API in a
mid-stream error event. It must then be nowhere the server keeps or logs text:
``.nexus`` (``nexus.db``, its ``-wal``, ``context.md``, ``verbose.md``,
``raw.jsonl``), the ``--log-file`` (DEBUG), stderr, ``window/logMessage`` and the
turn's ``error.message``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from pytest_lsp import ClientServerConfig

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import (
    SERVER_COMMAND,
    TestEditor,
    initialize_params,
    make_client,
    server_env,
    settings,
    stop,
)

KEY = "nx-live-Qm3v9Lr7Tw2Kp8Zs5Hd1Bf6Gj4"  # fake, for this test only
KEY_ENV = "NEXUS_LLM_CREDENTIAL"


def holders(paths: list[Path]) -> list[str]:
    return sorted(p.name for p in paths if p.is_file() and KEY.encode() in p.read_bytes())


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_the_key_is_nowhere_after_a_session_that_quotes_it_everywhere(
        kind: str, model: ScriptedModelServer, workspace: Path, tmp_path: Path,
        capfd: pytest.CaptureFixture[str]) -> None:
    (workspace / "secret.txt").write_text(f"API_KEY={KEY}\n", encoding="utf-8")
    log_file = tmp_path / "server.log"
    base_url = model.openai_base_url if kind == "openai" else model.anthropic_base_url
    options = settings(base_url)
    options["provider"] |= {"kind": kind, "apiKeyEnv": KEY_ENV}
    model.extend([
        {"text": f"I will save {KEY} now.", "reasoning": f"the user gave me {KEY}",
         "chunkSize": 5, "toolCalls": [
             {"name": "write_file", "arguments": {"path": "copy.txt", "content": KEY}},
             {"name": "read_file", "arguments": {"path": "secret.txt"}},
             {"name": "read_file", "arguments": {"path": f"missing-{KEY}.txt"}},
         ]},
        {"text": f"Saved: {KEY}.", "chunkSize": 3},
        {"text": "Checking the quota", "chunkSize": 4,
         "fault": {"errorAfterChunks": 2, "message": f"key {KEY} is over its quota"}},
    ])
    config = ClientServerConfig(
        server_command=[*SERVER_COMMAND, "--log-file", str(log_file)],
        client_factory=make_client, server_env=server_env(**{KEY_ENV: KEY}))
    client = await config.start()
    assert isinstance(client, TestEditor)
    try:
        await client.initialize_session(initialize_params(
            pytest_lsp.client_capabilities("visual-studio-code"), workspace, options))
        saved = await client.send(f"My key is {KEY}; put it in copy.txt")
        assert saved["stopReason"] == "endTurn", saved
        assert [c["status"] for c in saved["toolCalls"]] == ["completed", "completed",
                                                              "failed"]
        failed = await client.send("and the quota?", saved["sessionId"])
        nexus = workspace / ".nexus"
        stored = [p for p in nexus.rglob("*") if p.is_file()]  # with the server running
        assert {p.name for p in stored} >= {"nexus.db", "nexus.db-wal", "context.md",
                                            "verbose.md", "raw.jsonl"}
        leaked_live = holders(stored)
        await client.shutdown_session()
    finally:
        await stop(client)
    assert (workspace / "copy.txt").read_text() == KEY  # the tools did their work

    assert failed["stopReason"] == "error", failed
    error: dict[str, Any] = failed["error"]
    assert "over its quota" in error["message"] and KEY not in error["message"]
    assert leaked_live == []
    assert holders([p for p in (workspace / ".nexus").rglob("*")]) == []
    log = log_file.read_text(encoding="utf-8")
    assert " DEBUG " in log and "[REDACTED]" in log  # traffic was logged, redacted
    assert KEY not in log
    assert KEY not in capfd.readouterr().err
    assert all(KEY not in m.message for m in client.log_messages)
    assert any("over its quota" in m.message for m in client.log_messages)
    # The session's records are all there, the key replaced in them.
    raw = (workspace / ".nexus" / "sessions" / saved["sessionId"] / wire.RAW_JSONL)
    assert "[REDACTED]" in raw.read_text() and json.loads(raw.read_text().splitlines()[0])

