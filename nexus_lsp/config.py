"""Settings (protocol §7): pydantic models with the wire's camelCase names.

:func:`parse_settings` never raises on bad input: it returns the settings with every
invalid field left at its default, plus one message per problem naming the field
(``session.maxIterations: Input should be greater than 0``), so the LSP layer can
show them with ``window/showMessage`` and keep serving.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "CodeActionSetting",
    "CommandSettings",
    "EditSettings",
    "LoggingSettings",
    "McpServerSettings",
    "PERMISSION_MODES",
    "PermissionMode",
    "PermissionRule",
    "PermissionSettings",
    "ProviderSettings",
    "SessionSettings",
    "Settings",
    "parse_mcp_servers",
    "parse_settings",
]

LogStream = Literal["context", "verbose", "raw"]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ProviderSettings(_Model):
    kind: Literal["openai", "anthropic"] = "openai"
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "qwen2.5-coder:7b"
    # Name of the environment variable holding the key; the key itself never
    # appears in settings, files or logs.
    api_key_env: str = "OPENAI_API_KEY"
    timeout_seconds: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)


class SessionSettings(_Model):
    max_iterations: int = Field(default=10, ge=1)
    tool_timeout_seconds: float = Field(default=60.0, gt=0)
    max_parallel_tools: int = Field(default=4, ge=1)
    system_prompt: str | None = None
    context_tokens: int = Field(default=128_000, ge=1_000)
    max_tool_output_chars: int = Field(default=20_000, ge=200)
    # protocol v2 §4: summarise when the context would pass this fraction of contextTokens
    compact_at: float = Field(default=0.8, gt=0, le=1)
    keep_recent_exchanges: int = Field(default=4, ge=0)
    # what attachments on send may add to one prompt, in characters (all items together)
    max_attachment_chars: int = Field(default=100_000, ge=1_000)


class LoggingSettings(_Model):
    streams: tuple[LogStream, ...] = ("context", "verbose", "raw")
    # Tool results longer than this are cut in context.md (0: never); prompts and
    # answers are never cut there. nexus.db keeps everything whole.
    markdown_truncate: int = Field(default=2000, ge=0)
    # Events kept per session in nexus.db (oldest dropped first).
    event_retention: int = Field(default=50_000, ge=0)


class EditSettings(_Model):
    fallback_to_disk: bool = True
    confirm: bool = False
    # protocol v2 §4: how long to wait for the editor's diagnostics to settle after a batch
    diagnostics_delay_ms: int = Field(default=1500, ge=0, le=60_000)


PermissionMode = Literal["default", "plan", "acceptEdits", "auto", "strict"]
PERMISSION_MODES: tuple[PermissionMode, ...] = ("default", "plan", "acceptEdits", "auto", "strict")


class PermissionRule(_Model):
    """``match`` is a shell-style glob over the command line or the tool's main argument."""

    tool: str = Field(min_length=1)
    match: str = Field(default="*", min_length=1)
    action: Literal["allow", "deny"]


class PermissionSettings(_Model):
    mode: PermissionMode = "default"
    rules: tuple[PermissionRule, ...] = ()


# Names (globs, case-insensitive) of environment variables a command never sees.
DEFAULT_ENV_DENY = ("*KEY*", "*TOKEN*", "*SECRET*", "*PASSWORD*", "*CREDENTIAL*")


class CommandSettings(_Model):
    timeout_seconds: float = Field(default=120.0, gt=0)
    max_stored_output_bytes: int = Field(default=1024 * 1024, ge=1024)
    env_deny: tuple[str, ...] = DEFAULT_ENV_DENY


class CodeActionSetting(_Model):
    title: str = Field(min_length=1)
    prompt: str = Field(min_length=1)


DEFAULT_CODE_ACTIONS = (
    CodeActionSetting(title="Nexus: Explain this code", prompt="Explain what this code does."),
    CodeActionSetting(
        title="Nexus: Fix this code",
        prompt="Find and fix bugs in this code. Edit the file in place.",
    ),
)


# A server's name becomes part of its tools' names (mcp__<server>__<tool>).
MCP_SERVER_NAME = r"^[A-Za-z0-9_-]{1,40}$"


class McpServerSettings(_Model):
    """One MCP server (protocol v2 §5): ``command`` (stdio) or ``url`` (streamable HTTP).

    The field names are those of the common ``mcp.json`` files, not camelCase."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    type: Literal["stdio", "http", "streamable-http"] | None = None
    command: str | None = Field(default=None, min_length=1)
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = Field(default=None, pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _no_sse(cls, value: object) -> object:
        if isinstance(value, dict) and value.get("type") == "sse":
            raise ValueError("the SSE transport is not supported: use a streamable-HTTP url")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError(
                "give either command (a stdio server) or url (an HTTP server)")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("args, env and cwd are for command servers, not url ones")
        if self.command is not None and self.headers:
            raise ValueError("headers are for url servers, not command ones")
        if self.type == "stdio" and self.url is not None:
            raise ValueError("type stdio needs a command")
        if self.type in ("http", "streamable-http") and self.command is not None:
            raise ValueError(f"type {self.type} needs a url")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"


class Settings(_Model):
    provider: ProviderSettings = ProviderSettings()
    session: SessionSettings = SessionSettings()
    logging: LoggingSettings = LoggingSettings()
    edits: EditSettings = EditSettings()
    permissions: PermissionSettings = PermissionSettings()
    commands: CommandSettings = CommandSettings()
    code_actions: tuple[CodeActionSetting, ...] = DEFAULT_CODE_ACTIONS
    mcp_servers: dict[str, McpServerSettings] = Field(default_factory=dict)

    @field_validator("mcp_servers", mode="before")
    @classmethod
    def _server_names(cls, value: object) -> object:
        if isinstance(value, dict):
            import re

            for name in value:
                if not isinstance(name, str) or not re.match(MCP_SERVER_NAME, name):
                    raise ValueError(
                        f"server name {name!r}: use 1-40 letters, digits, _ or - "
                        "(it becomes part of tool names)")
        return value


def parse_mcp_servers(raw: object, where: str) -> tuple[dict[str, McpServerSettings], list[str]]:
    """The valid entries of an ``mcpServers`` object (``.mcp.json``'s), and a problem
    naming each invalid one (``where.<name>: ...``)."""
    if not isinstance(raw, dict):
        return {}, [f"{where}: expected an object, got {type(raw).__name__}"]
    import re

    servers: dict[str, McpServerSettings] = {}
    problems: list[str] = []
    for name, entry in raw.items():
        if not re.match(MCP_SERVER_NAME, str(name)):
            problems.append(f"{where}: server name {name!r}: use 1-40 letters, digits, _ or -")
            continue
        try:
            servers[name] = McpServerSettings.model_validate(entry)
        except ValidationError as exc:
            for error in exc.errors():
                problems.append(f"{_dotted((where, name, *error['loc']))}: {error['msg']}")
    return servers, problems


def parse_settings(raw: object, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Validate ``raw`` (the ``nexus`` settings object) over ``base``.

    Returns the settings and a list of problems, each naming a field. Invalid
    fields keep their value from ``base`` (the defaults when not given).
    """
    base = base or Settings()
    if raw is None:
        return base, []
    if not isinstance(raw, dict):
        return base, [f"nexus: expected an object, got {type(raw).__name__}"]
    merged = _deep_merge(base.model_dump(by_alias=True, mode="json"), raw)
    problems: list[str] = []
    for _ in range(50):  # each round removes at least one invalid field
        try:
            return Settings.model_validate(merged), problems
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                problems.append(f"{_dotted(loc)}: {error['msg']}")
                _reset(merged, loc, base.model_dump(by_alias=True, mode="json"))
    return base, [*problems, "nexus: too many invalid settings; defaults kept"]


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _reset(data: dict[str, Any], loc: tuple[Any, ...], defaults: dict[str, Any]) -> None:
    """Put the default back at ``loc`` (or drop the key when it has none)."""
    node: Any = data
    default: Any = defaults
    # A problem inside a list item resets the whole list.
    for i, key in enumerate(loc):
        if isinstance(key, int) or not isinstance(node, dict):
            break
        if i == len(loc) - 1 or not isinstance(node.get(key), dict):
            if isinstance(default, dict) and key in default:
                node[key] = copy.deepcopy(default[key])
            else:
                node.pop(key, None)
            return
        node = node[key]
        default = default.get(key) if isinstance(default, dict) else None
    # Reached a list index: reset the list that contains it.
    parent_loc = loc[: next(i for i, k in enumerate(loc) if isinstance(k, int))]
    _reset(data, parent_loc, defaults)


def _dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for key in loc:
        if isinstance(key, int):
            parts[-1:] = [f"{parts[-1]}[{key}]"] if parts else [f"[{key}]"]
        else:
            parts.append(str(key))
    return ".".join(parts) or "nexus"
