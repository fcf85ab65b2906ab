"""The permission gate with a fake asker and an in-memory grant book."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from nexus_lsp import wire
from nexus_lsp.config import PermissionRule, PermissionSettings
from nexus_lsp.core.cancel import CancellationToken, Cancelled
from nexus_lsp.core.messages import ToolCall
from nexus_lsp.permissions import (
    NO_WAY_TO_ASK,
    Grant,
    PermissionAnswer,
    PermissionGate,
    PermissionQuestion,
    ToolFacts,
)


class Book:
    def __init__(self) -> None:
        self.grants: list[Grant] = []

    async def list_grants(self) -> list[Grant]:
        return list(self.grants)

    async def add_grant(self, tool: str, match: str, action: Literal["allow", "deny"]) -> Grant:
        grant = Grant(len(self.grants) + 1, tool, match, action, "now")
        self.grants.append(grant)
        return grant


class Asker:
    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.questions: list[PermissionQuestion] = []
        self.release = asyncio.Event()
        self.release.set()
        self.pending = 0
        self.most_pending = 0
        self.withdrawn = 0
        self.asked = asyncio.Event()

    async def ask(self, question: PermissionQuestion) -> PermissionAnswer:
        self.questions.append(question)
        self.asked.set()
        self.pending += 1
        self.most_pending = max(self.most_pending, self.pending)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.withdrawn += 1
            raise
        finally:
            self.pending -= 1
        return PermissionAnswer("selected", self.answers.pop(0))


def gate(asker: Asker | None, book: Book, *rules: PermissionRule) -> PermissionGate:
    settings = PermissionSettings(rules=rules)
    return PermissionGate(lambda: settings, book, lambda: asker)


def command(call_id: str, line: str) -> tuple[ToolCall, ToolFacts]:
    args = {"command": line}
    return ToolCall(call_id, "run_command", args), ToolFacts("execute", line, f"Run `{line}`",
                                                            args)


async def check(g: PermissionGate, call_id: str, line: str,
                token: CancellationToken | None = None) -> str | None:
    call, facts = command(call_id, line)
    return await g.check(session_id="s", turn_id=1, mode="default", call=call, facts=facts,
                         token=token or CancellationToken())


async def test_questions_are_asked_one_at_a_time_and_a_grant_answers_the_waiting_one() -> None:
    asker = Asker(wire.OPTION_ALLOW_ALWAYS)
    asker.release.clear()
    book = Book()
    g = gate(asker, book)
    first = asyncio.ensure_future(check(g, "a", "pytest -q"))
    second = asyncio.ensure_future(check(g, "b", "pytest -x"))
    await asker.asked.wait()
    asker.release.set()
    assert await asyncio.gather(first, second) == [None, None]
    assert [q.call.id for q in asker.questions] == ["a"]  # b ran on a's grant
    assert asker.most_pending == 1
    assert [(g.match, g.action) for g in book.grants] == [("pytest *", "allow")]


async def test_cancelling_the_turn_withdraws_the_question() -> None:
    asker = Asker()
    asker.release.clear()
    g = gate(asker, Book())
    token = CancellationToken()
    pending = asyncio.ensure_future(check(g, "a", "make", token))
    await asker.asked.wait()
    token.cancel("stop")
    with pytest.raises(Cancelled):
        await pending
    assert asker.withdrawn == 1


async def test_no_asker_is_a_denial_naming_the_way_out() -> None:
    assert await check(gate(None, Book()), "a", "make") == f"run_command: denied: {NO_WAY_TO_ASK}"


async def test_a_deny_rule_is_never_asked_and_beats_a_stored_grant() -> None:
    book = Book()
    await book.add_grant("run_command", "rm *", "allow")
    asker = Asker()
    g = gate(asker, book, PermissionRule(tool="run_command", match="rm *", action="deny"))
    assert await check(g, "a", "rm -rf x") == (
        "run_command: denied: the rule deny run_command `rm *` forbids it")
    assert asker.questions == []


@pytest.mark.parametrize(("option", "denial"), [
    (wire.OPTION_REJECT_ONCE, "run_command: denied: the user rejected it"),
    (wire.OPTION_REJECT_ALWAYS, "run_command: denied: the user always rejects `make *`"),
    ("bogus", "run_command: denied: the answer named no known option ('bogus')"),
])
async def test_rejections(option: str, denial: str) -> None:
    book = Book()
    assert await check(gate(Asker(option), book), "a", "make -j4") == denial
    stored = [(g.match, g.action) for g in book.grants]
    assert stored == ([("make *", "deny")] if option == wire.OPTION_REJECT_ALWAYS else [])


async def test_a_move_into_a_denied_path_is_refused() -> None:
    g = gate(Asker(), Book(), PermissionRule(tool="*", match="secrets/*", action="deny"))
    call = ToolCall("m", "rename_file", {"path": "a.txt", "newPath": "secrets/a.txt"})
    facts = ToolFacts("move", "a.txt", "rename_file `a.txt`", call.arguments, ("secrets/a.txt",))
    denial = await g.check(session_id="s", turn_id=1, mode="auto", call=call, facts=facts,
                           token=CancellationToken())
    assert denial == ("rename_file: denied: the rule deny * `secrets/*` forbids it "
                      "(`secrets/a.txt`)")
