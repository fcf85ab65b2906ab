"""LspSettingsSource over the host's SettingsLayers: initializationOptions, pulled
configuration, pushed changes, warnings through window/showMessage."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from nexus_lsp.config import Settings
from nexus_lsp.host.settings import SettingsLayers
from nexus_lsp.lsp.channel import LspNotifier
from nexus_lsp.lsp.settings import LspSettingsSource


class FakeServer:
    def __init__(self, configuration: bool, answer: Any = None) -> None:
        self.client_capabilities = types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(configuration=configuration)
        )
        self.answer = answer
        self.shown: list[types.ShowMessageParams] = []
        self.asked: list[types.ConfigurationParams] = []

    def window_show_message(self, params: types.ShowMessageParams) -> None:
        self.shown.append(params)

    async def workspace_configuration_async(self, params: types.ConfigurationParams) -> Any:
        self.asked.append(params)
        return self.answer


def lsp_source(server: Any, on_change: Any = None) -> LspSettingsSource:
    layers = SettingsLayers(LspNotifier(server), on_change)
    return LspSettingsSource(server, layers)


async def test_layers_and_change_callback() -> None:
    server = FakeServer(True, ({"session": {"maxIterations": 3}},))
    changes: list[Settings] = []
    source = lsp_source(server, changes.append)  # type: ignore[arg-type]
    first = source.load_initial({"nexus": {"session": {"maxIterations": 2, "systemPrompt": "I"}}})
    assert first.session.max_iterations == 2
    pulled = await source.pull()
    assert pulled.session.max_iterations == 3 and pulled.session.system_prompt == "I"
    assert [s.session.max_iterations for s in changes] == [2, 3]
    assert server.asked[0].items[0].section == "nexus"
    server.answer = ({"session": {"maxIterations": 3}},)
    await source.changed(None)
    assert len(changes) == 2  # unchanged settings: no callback
    assert server.shown == []


async def test_invalid_values_warn_and_keep_the_layer_below() -> None:
    server = FakeServer(True, ({"session": {"maxIterations": -1}, "edits": {"confirm": 3}},))
    source = lsp_source(server)  # type: ignore[arg-type]
    source.load_initial({"session": {"maxIterations": 4}})
    settings = await source.pull()
    assert settings.session.max_iterations == 4 and settings.edits.confirm is False
    (shown,) = server.shown
    assert shown.type == types.MessageType.Warning
    assert "session.maxIterations" in shown.message and "edits.confirm" in shown.message


async def test_a_client_that_cannot_be_asked_pushes_its_settings() -> None:
    server = FakeServer(False)
    source = lsp_source(server)  # type: ignore[arg-type]
    source.load_initial(None)
    assert await source.pull() == Settings()
    refresh = source.changed({"nexus": {"session": {"maxIterations": 7}}})
    assert (await source.layers.settled()).session.max_iterations == 7
    assert refresh.done() and server.asked == []


async def test_a_failing_configuration_request_keeps_the_settings() -> None:
    class Failing(FakeServer):
        async def workspace_configuration_async(self, params: types.ConfigurationParams) -> Any:
            raise RuntimeError("client error")

    source = lsp_source(Failing(True))  # type: ignore[arg-type]
    source.load_initial({"session": {"maxIterations": 5}})
    assert (await source.pull()).session.max_iterations == 5
