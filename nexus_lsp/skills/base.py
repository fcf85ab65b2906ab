"""Skills: tools the model can call, and the registry that runs them.

A skill declares its ``name``, ``description``, its arguments as a pydantic model
(the JSON schema the provider sees comes from it) and whether it is read-only.
:meth:`SkillRegistry.run` is the one place a tool call becomes a
:class:`~nexus_lsp.core.messages.ToolResult`; every failure becomes a tool error
in ONE format, ``<tool>: <kind>: <detail>`` (see :class:`~nexus_lsp.errors.ToolError`):

===================  ==========================================================
kind                 when
===================  ==========================================================
``unknownTool``      no skill of that name
``invalidJson``      the model's arguments are not a JSON object
``invalidArguments`` the arguments do not validate (the field is named)
``failed``           the skill raised (its message, or the exception's type)
``timeout``          the skill ran past ``session.toolTimeoutSeconds``
``refused``          a path outside the workspace, or a write under .git/.nexus
``rejected``         the editor did not apply the edit (its reason)
===================  ==========================================================

Arguments whose name starts with ``_`` (such as ``_parallel``) are instructions to
the session, stripped before validation. A skill whose work is synchronous
overrides :meth:`Skill.run_blocking` instead of :meth:`Skill.run`: it runs in a
(daemon) worker thread, so it never stalls the event loop. A cancel or a timeout
stops waiting for it, but cannot stop the thread: its result is then dropped, and
its side effects are committed under the call's token (``CancellationToken.commit``).

Every skill has a ``kind`` (protocol v2 §1: ``read``, ``search``, ``edit``, ``delete``,
``move``, ``execute``, ``mcp``), which the permission policy decides on, and a
:meth:`Skill.subject` (the command line, or the main argument) that permission rules
match. A skill that streams output overrides :meth:`Skill.invoke` and reports chunks
to the ``report`` callback; one with ``own_timeout = True`` enforces its own limit
(``run_command``), and one with ``exclusive = True`` never runs in parallel.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from nexus_lsp.core.cancel import CancellationToken, Cancelled
from nexus_lsp.core.messages import ToolCall, ToolDefinition, ToolResult
from nexus_lsp.core.text import escape_surrogates
from nexus_lsp.core.threads import run_in_thread
from nexus_lsp.errors import ToolError

__all__ = [
    "OutputReport",
    "Skill",
    "SkillArguments",
    "SkillOutput",
    "SkillRegistry",
    "ToolKind",
    "truncate_output",
]

ToolKind = Literal["read", "search", "edit", "delete", "move", "execute", "mcp"]
# Receives the text a running tool produces, as it produces it.
OutputReport = Callable[[str], None]

log = logging.getLogger(__name__)

A = TypeVar("A", bound="SkillArguments")


class SkillArguments(BaseModel):
    """Base for a skill's arguments: unknown fields are an error the model can fix."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@dataclass(frozen=True, slots=True)
class SkillOutput:
    """What a skill returns: text for the model, and the paths it touched."""

    text: str
    locations: tuple[str, ...] = ()
    # Extra fields of the final toolCallUpdate (run_command: exitCode, signal, ...).
    details: Mapping[str, Any] | None = None


class Skill(ABC, Generic[A]):
    """One tool. Subclasses set the class attributes and override ``run`` (async)
    or ``run_blocking`` (synchronous, run in a worker thread)."""

    name: ClassVar[str]
    description: ClassVar[str]
    arguments: ClassVar[type[SkillArguments]]
    read_only: ClassVar[bool] = False
    kind: ClassVar[ToolKind] = "read"
    own_timeout: ClassVar[bool] = False
    exclusive: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} kind={self.kind}>"

    def subject(self, arguments: Mapping[str, Any]) -> str:
        """What permission rules match: the tool's main argument (``path`` by default)."""
        value = arguments.get("path", "")
        return value if isinstance(value, str) else ""

    def other_subjects(self, arguments: Mapping[str, Any]) -> tuple[str, ...]:
        """More arguments a ``deny`` rule must see (``rename_file``'s destination)."""
        return ()

    def title(self, arguments: Mapping[str, Any]) -> str:
        """A one-line description for a permission question."""
        subject = self.subject(arguments)
        return f"{self.name} `{subject}`" if subject else self.name

    async def invoke(self, args: A, token: CancellationToken, report: OutputReport) -> SkillOutput:
        """Run with a ``report`` callback for streamed output; most skills ignore it."""
        return await self.run(args, token)

    def parse_arguments(self, arguments: dict[str, Any]) -> A:
        """The validated arguments; :class:`ToolError` ``invalidArguments`` names what
        is wrong. A skill described by a raw JSON schema overrides this (``schema.py``)."""
        try:
            return self.arguments.model_validate(arguments)  # type: ignore[return-value]
        except ValidationError as exc:
            raise ToolError("invalidArguments", _describe_validation(exc)) from None

    def definition(self) -> ToolDefinition:
        schema = self.arguments.model_json_schema(by_alias=True)
        schema.pop("title", None)
        return ToolDefinition(self.name, self.description, schema)

    async def run(self, args: A, token: CancellationToken) -> SkillOutput:
        return await run_in_thread(self.run_blocking, args)

    def run_blocking(self, args: A) -> SkillOutput:
        raise NotImplementedError(f"{type(self).__name__} must override run or run_blocking")


def truncate_output(text: str, limit: int) -> str:
    """Bound ``text`` to about ``limit`` characters, saying what was cut."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    cut = cut if cut > limit // 2 else limit
    return f"{text[:cut]}\n[output truncated: {cut:,} of {len(text):,} characters shown]"


class SkillRegistry:
    """The skills a session offers, and the one place tool calls are run."""

    def __init__(
        self,
        skills: Iterable[Skill[Any]] = (),
        *,
        timeout_seconds: float = 60.0,
        max_output_chars: int = 20_000,
    ) -> None:
        self._skills: dict[str, Skill[Any]] = {}
        self._groups: dict[str, list[str]] = {}  # replace_group's names
        self._definitions: dict[str, tuple[Skill[Any], ToolDefinition]] = {}
        self.timeout_seconds = timeout_seconds
        self.max_output_chars = max_output_chars
        for skill in skills:
            self.register(skill)

    def __repr__(self) -> str:
        return f"<SkillRegistry {sorted(self._skills)}>"

    def __contains__(self, name: object) -> bool:
        return name in self._skills

    @property
    def names(self) -> list[str]:
        return list(self._skills)

    def register(self, skill: Skill[Any]) -> None:
        if skill.name in self._skills:
            raise ValueError(f"a skill named {skill.name!r} is already registered")
        self._skills[skill.name] = skill

    def group(self, group: str) -> list[str]:
        """The names ``replace_group`` put in ``group``."""
        return list(self._groups.get(group, ()))

    def replace_group(self, group: str, skills: Iterable[Skill[Any]]) -> list[str]:
        """Make ``skills`` the registry's ``group`` (MCP tools, refreshed each turn):
        the group's previous skills go, these come. A name another skill already has
        is left out; the names left out are returned."""
        for name in self._groups.pop(group, ()):
            self._skills.pop(name, None)
        added: list[str] = []
        clashes: list[str] = []
        for skill in skills:
            if skill.name in self._skills:
                clashes.append(skill.name)
                continue
            self._skills[skill.name] = skill
            added.append(skill.name)
        self._groups[group] = added
        return clashes

    def definitions(self) -> list[ToolDefinition]:
        # Built once per skill: a pydantic schema costs milliseconds, and the list is
        # asked for at every turn that refreshes its MCP tools.
        out: list[ToolDefinition] = []
        for name, skill in self._skills.items():
            cached = self._definitions.get(name)
            if cached is None or cached[0] is not skill:
                cached = self._definitions[name] = (skill, skill.definition())
            out.append(cached[1])
        return out

    def is_read_only(self, name: str) -> bool:
        skill = self._skills.get(name)
        return skill is not None and skill.read_only

    def skill(self, name: str) -> Skill[Any] | None:
        return self._skills.get(name)

    def kind_of(self, name: str) -> ToolKind | None:
        skill = self._skills.get(name)
        return skill.kind if skill is not None else None

    def is_exclusive(self, name: str) -> bool:
        skill = self._skills.get(name)
        return skill is not None and skill.exclusive

    async def run(
        self, call: ToolCall, token: CancellationToken, report: OutputReport | None = None
    ) -> tuple[ToolResult, SkillOutput]:
        """Run one call. Never raises except :class:`Cancelled` (the turn was cancelled)."""
        try:
            output = await self._run(call, token, report or _ignore)
        except Cancelled:
            raise
        except ToolError as exc:
            return self._failed(call, exc.for_tool(call.name)), SkillOutput("")
        except Exception as exc:
            log.exception("tool %s (%s) raised", call.name, call.id)
            detail = str(exc) or type(exc).__name__
            return self._failed(call, f"{call.name}: failed: {detail}"), SkillOutput("")
        # A name the OS gave undecoded must not reach the history: it fails every request.
        text = truncate_output(escape_surrogates(output.text), self.max_output_chars)
        return ToolResult(call.id, call.name, output=text), output

    async def _run(
        self, call: ToolCall, token: CancellationToken, report: OutputReport
    ) -> SkillOutput:
        skill = self._skills.get(call.name)
        if skill is None:
            known = ", ".join(sorted(self._skills)) or "none"
            raise ToolError("unknownTool", f"no tool named {call.name!r} (available: {known})")
        if call.arguments_error is not None:
            raise ToolError(
                "invalidJson",
                f"the arguments are not a valid JSON object ({call.arguments_error}); "
                "call the tool again with valid JSON arguments",
            )
        parsed = skill.parse_arguments(strip_session_arguments(call.arguments))
        call_token = token.child()  # cancelled on timeout, too
        timeout = None if skill.own_timeout else self.timeout_seconds
        try:
            return await self._await_call(
                skill.invoke(parsed, call_token, report), call_token, token, timeout
            )
        finally:
            call_token.detach()

    async def _await_call(self, run: Awaitable[SkillOutput], call_token: CancellationToken,
                          turn_token: CancellationToken, limit: float | None) -> SkillOutput:
        """The skill's output, unless the turn is cancelled (Cancelled) or the call times
        out (ToolError ``timeout``) after ``limit`` seconds (None: the skill keeps its own).

        A skill's thread cannot be stopped, so its side effects are committed under
        ``call_token.commit()``: cancelling the token here decides. Either a side
        effect landed already, and the call is waited for and reported done, or none
        ever will (the model is told the call did not happen, which stays true).
        """
        work = asyncio.ensure_future(run)
        waiter = asyncio.ensure_future(turn_token.wait())
        try:
            await asyncio.wait({work, waiter}, timeout=limit,
                               return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            call_token.cancel("the turn's task was cancelled")
            work.cancel()
            waiter.cancel()
            await asyncio.gather(work, waiter, return_exceptions=True)
            raise
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        if not work.done():
            timed_out = not turn_token.cancelled
            call_token.cancel("timeout" if timed_out else turn_token.reason or "cancelled")
            if call_token.committed:  # it landed just before: report what it did
                return await work
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            if not timed_out:
                raise Cancelled(turn_token.reason or "cancelled")
            raise ToolError(
                "timeout", f"did not finish within {self.timeout_seconds:g} seconds"
            )
        return work.result()

    @staticmethod
    def _failed(call: ToolCall, text: str) -> ToolResult:
        return ToolResult(call.id, call.name, error=escape_surrogates(text), status="failed")


def _ignore(text: str) -> None:
    return None


def strip_session_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """Drop ``_``-prefixed arguments: they steer the session, not the tool."""
    return {k: v for k, v in arguments.items() if not k.startswith("_")}


def _describe_validation(exc: ValidationError) -> str:
    parts: list[str] = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "arguments"
        parts.append(f"{field}: {error['msg']}")
    return "; ".join(parts)


def calls_request_parallel(calls: Sequence[ToolCall]) -> bool:
    """True when any call carries ``"_parallel": true``."""
    return any(call.arguments.get("_parallel") is True for call in calls)
