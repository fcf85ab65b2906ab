"""Settings: every invalid field is named, and only that field falls back."""

from __future__ import annotations

from nexus_lsp.config import Settings, parse_settings


def test_valid_settings_use_the_wire_names() -> None:
    settings, problems = parse_settings({
        "provider": {"kind": "anthropic", "baseUrl": "http://127.0.0.1:9", "apiKeyEnv": "K"},
        "session": {"maxIterations": 25, "maxParallelTools": 2},
        "logging": {"streams": ["context"], "markdownTruncate": 50},
        "edits": {"fallbackToDisk": False},
        "codeActions": [{"title": "Doc", "prompt": "Write a docstring."}],
    })
    assert problems == []
    assert settings.provider.kind == "anthropic" and settings.provider.api_key_env == "K"
    assert settings.session.max_iterations == 25
    assert settings.logging.streams == ("context",)
    assert settings.edits.fallback_to_disk is False
    assert [a.title for a in settings.code_actions] == ["Doc"]


def test_each_invalid_field_is_named_and_the_rest_still_applies() -> None:
    settings, problems = parse_settings({
        "provider": {"kind": "gpt", "model": "m1"},
        "session": {"maxIterations": 0, "maxParallelTools": 3},
        "codeActions": [{"title": ""}],
        "colour": "blue",
    })
    assert settings.provider.model == "m1" and settings.provider.kind == "openai"
    assert settings.session.max_iterations == Settings().session.max_iterations
    assert settings.session.max_parallel_tools == 3
    assert settings.code_actions == Settings().code_actions
    named = sorted(p.split(":")[0] for p in problems)
    assert named == ["codeActions[0].prompt", "codeActions[0].title", "colour",
                     "provider.kind", "session.maxIterations"]


def test_changes_apply_over_the_current_settings() -> None:
    current, _ = parse_settings({"session": {"maxIterations": 4}})
    updated, problems = parse_settings({"provider": {"model": "x"}}, base=current)
    assert problems == [] and updated.session.max_iterations == 4


def test_a_non_object_is_refused_without_raising() -> None:
    settings, problems = parse_settings(["not", "an", "object"])
    assert settings == Settings()
    assert problems == ["nexus: expected an object, got list"]
