"""The runtime is built on first use, not at ``initialized`` (protocol docs, "Start-up").

A user who opens a folder and never asks gets no ``.nexus/`` folder and pays no memory
for the agent; a configuration push or a code action reads and validates the settings
without opening the store; the first ``nexus/*`` request opens it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from nexus_lsp import wire
from nexus_lsp.testing import ScriptedModelServer

from .lsp_support import connected, settings


def action_params(doc: str, start: int, end: int, automatic: bool) -> types.CodeActionParams:
    trigger = types.CodeActionTriggerKind.Automatic if automatic else None
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=doc),
        range=types.Range(
            start=types.Position(line=0, character=start),
            end=types.Position(line=0, character=end),
        ),
        context=types.CodeActionContext(diagnostics=[], trigger_kind=trigger),
    )


async def test_no_store_until_the_first_nexus_request(
    model: ScriptedModelServer, workspace: Path
) -> None:
    options = settings(model.openai_base_url)
    async with connected("visual-studio-code", workspace, options) as client:
        doc = client.open(workspace / "lazy.py", "x = 1\n")
        # The lightbulb's automatic request on a bare cursor: nothing offered.
        bare = await client.request(
            types.TEXT_DOCUMENT_CODE_ACTION, action_params(doc, 0, 0, automatic=True)
        )
        assert list(bare) == []
        # A selection gets the prompts, still without a store.
        offered = await client.request(
            types.TEXT_DOCUMENT_CODE_ACTION, action_params(doc, 0, 5, automatic=True)
        )
        assert [a.title for a in offered] and all(
            a.kind == wire.CODE_ACTION_KIND for a in offered
        )
        # Asked for explicitly, the cursor's line gets them too.
        invoked = await client.request(
            types.TEXT_DOCUMENT_CODE_ACTION, action_params(doc, 0, 0, automatic=False)
        )
        assert [a.title for a in invoked] == [a.title for a in offered]
        assert not (workspace / ".nexus").exists()
        listed = await client.request(wire.SESSION_LIST, {})
        assert list(listed["sessions"]) == []
        assert (workspace / ".nexus" / "nexus.db").exists()


async def test_a_push_before_first_use_is_validated_and_kept(
    model: ScriptedModelServer, workspace: Path
) -> None:
    # A client that cannot be asked for its configuration pushes it.
    pushing = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(configuration=False)
    )
    async with connected(pushing, workspace, settings(model.openai_base_url)) as client:
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"nexus": {"session": {"systemPrompt": "PUSHED", "maxIterations": -2}}}
            )
        )
        warning = await client.wait_for_message("session.maxIterations")
        assert warning.type == types.MessageType.Warning
        await asyncio.sleep(0.2)  # let the server finish handling the push
        assert not (workspace / ".nexus").exists()
        model.push({"text": "ok"})
        result = await client.send("hi")
        assert result["stopReason"] == "endTurn"
        system = model.requests[-1].json["messages"][0]["content"]
        assert "PUSHED" in system
        # One warning for the one bad push: the runtime took over the validated settings.
        assert sum("maxIterations" in m.message for m in client.messages) == 1
