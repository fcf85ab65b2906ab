"""One exception tree for nexus-lsp.

Every error the core raises descends from :class:`NexusError`; the LSP layer maps
them to JSON-RPC errors in one place, and the session maps provider errors to the
``error.code`` values of protocol §2.

    NexusError
    ├── ConfigError                      settings that do not validate
    ├── ProviderError                    a model API call failed (after retries)
    │   ├── ProviderAuthError            401/403                  → providerAuth
    │   ├── ProviderRateLimitedError     429                      → providerRateLimited
    │   ├── ProviderUnavailableError     5xx, connect errors      → providerUnavailable
    │   ├── ProviderBadRequestError      400/404/422              → providerBadRequest
    │   ├── ProviderProtocolError        malformed stream         → providerProtocol
    │   └── ProviderTimeoutError         no answer in time        → timeout
    ├── SessionError
    │   ├── SessionBusy                  a turn already runs in that session
    │   ├── UnknownSession               no session with that id
    │   ├── UnknownTurn                  no such turn to revert or fork from
    │   └── ToolsUnavailable             use_tools without a skill registry
    ├── PermissionDenied                 a request the permission policy refuses
    ├── ToolError                        a tool call failed; str() is the model-facing text
    │   ├── PathRefused                  outside the workspace, or under .git/.nexus
    │   └── EditRejected                 the editor answered applyEdit with applied=false
    └── StoreError                       the .nexus database cannot be used
        ├── StoreVersionError            written by a newer nexus-lsp
        └── NotANexusDatabase            some other file sits at .nexus/nexus.db

Provider errors never carry an API key or an Authorization header: they hold the
HTTP status and a bounded excerpt of the response body only.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ConfigError",
    "EditRejected",
    "NexusError",
    "NotANexusDatabase",
    "PathRefused",
    "PermissionDenied",
    "ProviderAuthError",
    "ProviderBadRequestError",
    "ProviderError",
    "ProviderProtocolError",
    "ProviderRateLimitedError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "SessionBusy",
    "SessionError",
    "StoreError",
    "StoreVersionError",
    "ToolError",
    "ToolsUnavailable",
    "UnknownSession",
    "UnknownTurn",
]

BODY_EXCERPT_CHARS = 500


class NexusError(Exception):
    """Base of every error nexus-lsp raises on purpose."""


class ConfigError(NexusError):
    """Settings that do not validate; ``field`` names the offending setting."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class ProviderError(NexusError):
    """A model API call failed for good. ``code`` is the protocol §2 error code."""

    code: ClassVar[str] = "providerUnavailable"

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body_excerpt = body[:BODY_EXCERPT_CHARS]


class ProviderAuthError(ProviderError):
    code = "providerAuth"


class ProviderRateLimitedError(ProviderError):
    code = "providerRateLimited"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class ProviderUnavailableError(ProviderError):
    code = "providerUnavailable"


class ProviderBadRequestError(ProviderError):
    code = "providerBadRequest"


class ProviderProtocolError(ProviderError):
    code = "providerProtocol"


class ProviderTimeoutError(ProviderError):
    code = "timeout"


class SessionError(NexusError):
    """A session-level request cannot be served."""


class SessionBusy(SessionError):
    """A turn runs in the session: here, or (``elsewhere``, a description of the
    owner) in another nexus-lsp process on the same workspace."""

    def __init__(self, session_id: str, *, elsewhere: str | None = None) -> None:
        if elsewhere is None:
            message = f"session {session_id} is already running a turn"
        else:
            message = (f"session {session_id} is running a turn in another nexus-lsp process"
                       f" on this workspace ({elsewhere}); try again when it has finished")
        super().__init__(message)
        self.session_id = session_id
        self.elsewhere = elsewhere


class UnknownSession(SessionError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"no session with id {session_id!r}")
        self.session_id = session_id


class UnknownTurn(SessionError):
    def __init__(self, session_id: str, turn_id: int, why: str = "") -> None:
        super().__init__(
            f"session {session_id} has no turn {turn_id}" + (f": {why}" if why else "")
        )
        self.session_id = session_id
        self.turn_id = turn_id


class ToolsUnavailable(SessionError):
    """``use_tools=True`` was asked of a session that has no skill registry."""


class ToolError(NexusError):
    """A tool call failed. The model receives ``<tool>: <kind>: <detail>``.

    Anything below the skill runner (a skill, the workspace) raises it without the
    tool's name; the runner formats it with :meth:`for_tool`, so there is ONE format,
    e.g. ``edit_file: invalidArguments: oldText: Field required``. ``kind`` is one of
    ``unknownTool``, ``invalidJson``, ``invalidArguments``, ``failed``, ``timeout``,
    ``refused``, ``rejected``, ``cancelled``, ``interrupted``, ``skipped``.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail

    def for_tool(self, tool: str) -> str:
        return f"{tool}: {self.kind}: {self.detail}"


class PathRefused(ToolError):
    """A path resolves outside the workspace, or a write targets .git/ or .nexus/."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__("refused", f"{path}: {reason}")
        self.path = path


class EditRejected(ToolError):
    """The editor answered ``workspace/applyEdit`` with ``applied: false``."""

    def __init__(self, reason: str) -> None:
        super().__init__("rejected", reason or "the editor did not apply the edit")
        self.reason = reason


class StoreError(NexusError):
    """The ``.nexus`` store cannot be opened or written."""


class StoreVersionError(StoreError):
    pass


class NotANexusDatabase(StoreError):
    pass


class PermissionDenied(NexusError):
    """A request refused by the permission policy (-32803 ``permissionDenied``).

    Tool calls are never refused this way: the model reads ``<tool>: denied: <why>``.
    """
