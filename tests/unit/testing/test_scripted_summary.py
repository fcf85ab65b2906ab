"""The scripted model server's summary reply to compaction requests (both endpoints)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nexus_lsp.testing import Script, ScriptedModelServer, ScriptError
from nexus_lsp.testing.script import COMPACTION_MARKER

TRANSCRIPT = "[User]\nfix the parser\n\n[Agent]\ndone\n\n[User]\nnow the tests\nplease"


def compaction_body(path: str) -> dict[str, Any]:
    system = f"{COMPACTION_MARKER} summarise"
    user = {"role": "user", "content": TRANSCRIPT}
    if path == "/v1/messages":
        return {"model": "m", "max_tokens": 100, "system": system, "messages": [user]}
    return {"model": "m", "messages": [{"role": "system", "content": system}, user]}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
async def test_a_compaction_request_gets_a_summary_and_takes_no_scripted_answer(
    path: str,
) -> None:
    async with ScriptedModelServer({"responses": [{"text": "scripted"}]}) as srv, \
            httpx.AsyncClient() as client:
        response = await client.post(srv.url + path, json=compaction_body(path))
        assert response.status_code == 200
        text = str(response.json())
        assert srv.remaining == 1 and srv.summary_requests == [0]
    assert "Summary (scripted): The user asked: fix the parser; now the tests." in text
    assert "The agent answered 1 times." in text


async def test_the_script_can_give_the_summary_and_a_fault() -> None:
    script = Script.from_dict({"summary": {"text": "my summary"}})
    path = "/v1/chat/completions"
    async with ScriptedModelServer(script) as srv, httpx.AsyncClient() as client:
        first = await client.post(srv.url + path, json=compaction_body(path))
        srv.set_summary({"fault": {"status": 503}})
        second = await client.post(srv.url + path, json=compaction_body(path))
    assert first.json()["choices"][0]["message"]["content"] == "my summary"
    assert second.status_code == 503
    with pytest.raises(ScriptError, match="summary.chunkSize"):
        Script.from_dict({"summary": {"chunkSize": 0}})
