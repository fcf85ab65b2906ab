"""A history holding text that is not valid Unicode (lone surrogates) still goes out."""

from __future__ import annotations

import json

import pytest

from nexus_lsp.core import Message, ToolCall
from nexus_lsp.testing import ScriptedModelServer

from .conftest import KINDS, Kind, ProviderFactory, base_url, collect


@pytest.mark.parametrize("kind", KINDS)
async def test_lone_surrogates_in_the_history_are_sent_as_replacement_characters(
        kind: Kind, make_provider: ProviderFactory) -> None:
    history = [
        Message.user("list caf\udce9"),
        Message.assistant("", (ToolCall("c1", "list_directory", {"path": "caf\udce9"}),)),
        Message(role="tool", content="caf\udce9.txt", tool_call_id="c1", name="list_directory"),
    ]
    async with ScriptedModelServer({"responses": [{"text": "ok"}]}) as srv:
        provider = make_provider(kind, base_url(srv, kind), max_retries=0)
        events = await collect(provider, history)
    assert events[-1].message.content == "ok"  # type: ignore[attr-defined]
    (request,) = srv.requests
    sent = json.dumps(request.json, ensure_ascii=False)
    assert "caf\ufffd.txt" in sent and "list caf\ufffd" in sent
