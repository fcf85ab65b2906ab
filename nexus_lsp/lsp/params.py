"""Params of the ``nexus/*`` methods and the ``nexus.ask`` command, validated.

The wire's camelCase names are the field aliases. Unknown fields are refused (a
misspelt ``sessionID`` would otherwise silently start a new session), types are
strict, and :func:`parse` raises :class:`~nexus_lsp.lsp.rpc_errors.ParamsError`
whose message names every bad field (``sessionId: Input should be a valid string``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import unquote, urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from nexus_lsp.lsp.rpc_errors import ParamsError

__all__ = [
    "AskArgs",
    "CancelParams",
    "CompactParams",
    "ContextItemParams",
    "DeleteParams",
    "ForkParams",
    "ListParams",
    "LoadParams",
    "NewParams",
    "RevertArgs",
    "RevertParams",
    "McpListParams",
    "PermissionsListParams",
    "RevokeParams",
    "SendParams",
    "SetModeParams",
    "WirePosition",
    "WireRange",
    "parse",
]

M = TypeVar("M", bound=BaseModel)

SessionId = Field(min_length=1, max_length=200)


class _Params(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True, frozen=True
    )


class NewParams(_Params):
    title: str | None = None
    system_prompt: str | None = None
    model: str | None = Field(default=None, min_length=1)


def _progress_token(value: Any) -> int | str | None:
    if value is None or (isinstance(value, int | str) and not isinstance(value, bool)):
        return value
    raise ValueError("a progress token is an integer or a string")


class WirePosition(_Params):
    line: int = Field(ge=0)
    character: int = Field(ge=0)


class WireRange(_Params):
    start: WirePosition
    end: WirePosition


class ContextItemParams(_Params):
    """One ``ContextItem`` of ``send`` (protocol v2 §4)."""

    type: Literal["file", "text", "diagnostics"]
    uri: str | None = Field(default=None, min_length=1, max_length=4096)
    range: WireRange | None = None
    title: str | None = Field(default=None, max_length=200)
    text: str | None = None

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> ContextItemParams:
        allowed = {"file": {"uri", "range"}, "text": {"title", "text"},
                   "diagnostics": {"uri"}}[self.type]
        given = {name for name in ("uri", "range", "title", "text")
                 if getattr(self, name) is not None}
        if given - allowed:
            raise ValueError(f"a {self.type} item has no {', '.join(sorted(given - allowed))}")
        if self.type == "file" and self.uri is None:
            raise ValueError("a file item needs uri")
        if self.type == "text" and (self.title is None or self.text is None):
            raise ValueError("a text item needs title and text")
        return self


class SendParams(_Params):
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    prompt: str = Field(min_length=1)
    # one validator instead of a union: errors then name the field, not its variants
    work_done_token: Annotated[Any, BeforeValidator(_progress_token)] = None
    # protocol v2 §4
    context: list[ContextItemParams] = Field(default_factory=list, max_length=100)
    when_busy: Literal["reject", "queue", "steer"] = "reject"


class CompactParams(_Params):
    session_id: str = Field(min_length=1, max_length=200)


class ListParams(_Params):
    pass


class LoadParams(_Params):
    session_id: str = SessionId


class DeleteParams(_Params):
    session_id: str = SessionId


class CancelParams(_Params):
    session_id: str = SessionId


class RevertParams(_Params):
    """``nexus/session/revert``; also the argument of ``nexus.revert``, where every
    field may be left out (the command session's last turn)."""

    session_id: str = SessionId
    turn_id: int = Field(ge=1)
    code: bool = True
    conversation: bool = True


class RevertArgs(_Params):
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    turn_id: int | None = Field(default=None, ge=1)
    code: bool = True
    conversation: bool = True


class ForkParams(_Params):
    session_id: str = SessionId
    turn_id: int | None = Field(default=None, ge=1)
class SetModeParams(_Params):
    session_id: str = SessionId
    mode: Literal["default", "plan", "acceptEdits", "auto", "strict"]


class PermissionsListParams(_Params):
    pass


class McpListParams(_Params):
    pass


class RevokeParams(_Params):
    id: int = Field(ge=1)


# What file systems take (Linux's NAME_MAX and PATH_MAX): a longer name is the
# client's mistake, refused as such rather than failing in the OS (ENAMETOOLONG).
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096


def _path_fits(uri: str) -> str:
    path = unquote(urlparse(uri).path) if uri.startswith("file:") else uri
    if _size(path) > MAX_PATH_BYTES:
        raise ValueError(f"the path is too long (over {MAX_PATH_BYTES} bytes)")
    if any(_size(part) > MAX_NAME_BYTES for part in path.split("/")):
        raise ValueError(f"a name in the path is too long (over {MAX_NAME_BYTES} bytes)")
    return uri


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


class AskArgs(_Params):
    """The one argument object of ``workspace/executeCommand`` ``nexus.ask``."""

    prompt: str = Field(min_length=1)
    uri: Annotated[str, AfterValidator(_path_fits)] | None = Field(default=None, min_length=1)
    range: WireRange | None = None
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    show_transcript: bool = True
    # v2: the command answers when the turn has ended (else at once, the turn running on)
    wait: bool = False


def parse(model: type[M], raw: Any, *, what: str = "params") -> M:
    """Validate ``raw`` (a JSON value from the wire) as ``model``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{what}: expected an object, got {_json_type(raw)}", what)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        # params' fields are named as they are; an argument's with its place in the list
        prefix = () if what == "params" else (what,)
        problems = [
            f"{_loc((*prefix, *e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        first = _loc((*prefix, *exc.errors()[0]["loc"])) if exc.errors() else what
        raise ParamsError("; ".join(problems), first) from None


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "params"


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__
