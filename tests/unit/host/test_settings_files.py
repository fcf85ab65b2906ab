"""Settings files for the headless doors (nexus-lsp acp, ask): paths, reading,
problems named with the file, layers validated one by one (later wins)."""

from __future__ import annotations

from pathlib import Path

from nexus_lsp.host import settings_files as files
from nexus_lsp.host.notify import MessageLevel
from nexus_lsp.host.settings import SettingsLayers


class Shown:
    def __init__(self) -> None:
        self.messages: list[tuple[MessageLevel, str]] = []

    def show_message(self, level: MessageLevel, text: str) -> None:
        self.messages.append((level, text))


def test_paths() -> None:
    assert files.user_settings_path({"XDG_CONFIG_HOME": "/cfg"}) == Path(
        "/cfg/nexus-lsp/settings.json")
    assert files.user_settings_path({"HOME": "/home/u"}) == Path(
        "/home/u/.config/nexus-lsp/settings.json")
    assert files.workspace_settings_path(Path("/ws")) == Path("/ws/.nexus/settings.json")


def test_reading(tmp_path: Path) -> None:
    assert files.read_settings_file(tmp_path / "absent.json") == (None, None)
    good = tmp_path / "good.json"
    good.write_text('{"provider": {"model": "m"}}')
    layer, problem = files.read_settings_file(good)
    assert problem is None and layer == files.SettingsLayer(
        {"provider": {"model": "m"}}, str(good))
    bad = tmp_path / "bad.json"
    bad.write_text('{"provider": ')
    layer, problem = files.read_settings_file(bad)
    assert layer is None and problem is not None
    assert problem.startswith(f"{bad}: invalid JSON at line 1")
    bad.write_text("[1]")
    assert files.read_settings_file(bad)[1] == f"{bad}: expected a JSON object, got list"
    bad.write_bytes(b"\xff\xfe")
    assert "cannot read the settings file" in (files.read_settings_file(bad)[1] or "")


def test_layers_later_wins_and_invalid_fields_are_named() -> None:
    shown = Shown()
    layers = SettingsLayers(shown)
    settings = layers.load_layers([
        ({"provider": {"model": "a", "maxRetries": 1}}, "--settings"),
        ({"nexus": {"provider": {"model": "b"}}}, "user file"),
        ({"session": {"maxIterations": 0}}, "workspace file"),
    ])
    assert settings.provider.model == "b" and settings.provider.max_retries == 1
    assert settings.session.max_iterations != 0  # invalid: the earlier value is kept
    assert len(shown.messages) == 1 and "session.maxIterations" in shown.messages[0][1]
    # a later client layer builds on these files, not on the defaults
    assert layers.apply_client({}, "later").provider.model == "b"
