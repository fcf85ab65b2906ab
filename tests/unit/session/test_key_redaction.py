"""The key in the variable ``provider.apiKeyEnv`` names is redacted, whatever that name.

With a name no suffix rule knows (``NEXUS_LLM_CREDENTIAL``), a key the user pastes
into a prompt, a tool writes, reads or fails on, or the model says, must not reach
``nexus.db`` (nor its WAL), ``context.md``, ``verbose.md`` or ``raw.jsonl``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_lsp import keys
from nexus_lsp.config import parse_settings
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.session.manager import SessionManager
from nexus_lsp.skills import DiskWorkspace
from nexus_lsp.storage import SessionStore
from nexus_lsp.storage.redact import REDACTED, Redactor
from nexus_lsp.testing.fake_provider import FakeAnswer

from .test_manager import Providers

KEY = "nx-live-Qm3v9Lr7Tw2Kp8Zs5Hd1"  # fake, for the test only
ENV = "NEXUS_LLM_CREDENTIAL"


@pytest.fixture(autouse=True)
def no_key_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test with no configured key variable (the list is process-wide)."""
    monkeypatch.setattr(keys, "_names", frozenset())


def leaks(folder: Path, secret: str) -> list[str]:
    """Every file under ``folder`` (the -wal and -shm files too) holding ``secret``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and secret.encode() in p.read_bytes())


def test_a_configured_key_variable_is_redacted_whatever_its_name() -> None:
    environ = {ENV: KEY}
    assert Redactor(environ=environ).text(f"k={KEY}") == f"k={KEY}"  # no suffix rule
    assert Redactor(environ=environ, key_envs=[ENV]).text(f"k={KEY}") == f"k={REDACTED}"
    keys.add_key_env(ENV)
    assert Redactor(environ=environ).text(f"k={KEY}") == f"k={REDACTED}"


async def test_the_key_reaches_no_file_of_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)
    (tmp_path / "secret.txt").write_text(f"API_KEY={KEY}\n", encoding="utf-8")
    calls = [
        ToolCall("c1", "write_file", {"path": "copy.txt", "content": f"token {KEY}"}),
        ToolCall("c2", "read_file", {"path": "secret.txt"}),
        ToolCall("c3", "read_file", {"path": f"missing-{KEY}.txt"}),  # its error quotes it
    ]
    providers = Providers(
        FakeAnswer(text=["Saving ", KEY[:6], KEY[6:], " now"], tool_calls=calls,
                   reasoning=[f"the user gave {KEY}"]),
        FakeAnswer(text=[f"Done: {KEY}"]),
    )
    settings, problems = parse_settings({"provider": {"apiKeyEnv": ENV}})
    assert problems == []
    store = await SessionStore.open(tmp_path, settings.logging)
    manager = SessionManager(tmp_path, settings, DiskWorkspace(tmp_path), store, providers)
    try:
        result = await manager.send(None, f"store my key {KEY} in copy.txt")
        assert [r.status for r in result.tool_calls] == ["completed", "completed", "failed"]
        session_id = (await manager.list_sessions())[0].session_id
        store.raw_logger(session_id)("chunk", {"delta": {"content": f"raw {KEY}"}})
        store.raw_logger(session_id)("error", {"message": f"key {KEY} refused"})
        await store.flush()
        nexus = tmp_path / ".nexus"
        assert (nexus / "nexus.db-wal").exists()
        assert {p.name for p in nexus.rglob("*.*")} >= {
            "context.md", "verbose.md", "raw.jsonl", "nexus.db", "nexus.db-wal"}
        assert leaks(nexus, KEY) == []
        loaded = await store.load_session(session_id)
        assert REDACTED in loaded.messages[1].content  # the prompt, redacted
    finally:
        await manager.aclose()
        await store.aclose()
    assert leaks(tmp_path / ".nexus", KEY) == []
    assert KEY in (tmp_path / "copy.txt").read_text()  # the tool itself did its work


async def test_a_key_variable_configured_later_is_redacted_from_then_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other_env, other_key = "MY_MODEL_CREDENTIAL", "other-Zx8Yw7Vu6Ts5Rq4P"
    monkeypatch.setenv(other_env, other_key)
    settings, _ = parse_settings(None)
    store = await SessionStore.open(tmp_path, settings.logging)
    providers = Providers(FakeAnswer(text=["ok"]))
    manager = SessionManager(tmp_path, settings, DiskWorkspace(tmp_path), store, providers)
    try:
        updated, _ = parse_settings({"provider": {"apiKeyEnv": other_env}}, base=settings)
        manager.update_settings(updated)
        await manager.send(None, f"is {other_key} valid?")
    finally:
        await manager.aclose()
        await store.aclose()
    assert leaks(tmp_path / ".nexus", other_key) == []
