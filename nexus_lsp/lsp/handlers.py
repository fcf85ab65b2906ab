"""The handlers of protocol v1: validate params, find the session, await the manager,
map the result.

Each method answers one LSP method of ``lsp/app.py`` and stays a few lines; the
state they share is the :class:`~nexus_lsp.lsp.runtime.LspRuntime`. Errors are
raised as they come (``UnknownSession``, ``SessionBusy``, ``ParamsError``) and mapped
to JSON-RPC errors in one place by the app's ``rpc_errors``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from nexus_lsp import wire
from nexus_lsp.core.attachments import Attachment
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.events import TurnResult
from nexus_lsp.errors import NexusError, SessionBusy
from nexus_lsp.host.attachments import AttachmentError, ContextItem, resolve_attachments
from nexus_lsp.lsp import params as P
from nexus_lsp.lsp.ask import run_ask, show_after_answer, show_refusal
from nexus_lsp.lsp.channel import LspNotifier
from nexus_lsp.lsp.commands import ask_prompt, selection_range
from nexus_lsp.lsp.results import (
    compact_result,
    fork_result,
    list_result,
    load_result,
    new_result,
    revert_result,
    revert_summary,
    send_result,
    steered_result,
)
from nexus_lsp.lsp.rpc_errors import ParamsError
from nexus_lsp.lsp.runtime import LspRuntime
from nexus_lsp.lsp.settings import LspSettingsSource
from nexus_lsp.session.manager import title_from

__all__ = ["Handlers"]

log = logging.getLogger(__name__)


class Handlers:
    def __init__(self, runtime: LspRuntime) -> None:
        self.runtime = runtime
        # Two asks at once must not both start a new command session.
        self._command_session = asyncio.Lock()
        # Sessions with a background ask spawned whose turn may not have begun yet.
        self._asking: set[str] = set()

    @classmethod
    async def start(
        cls,
        server: LanguageServer,
        params: types.InitializeParams | None,
        settings: LspSettingsSource,
    ) -> Handlers:
        return cls(await LspRuntime.start(server, params, settings))

    async def session_new(self, raw: Any) -> dict[str, Any]:
        p = P.parse(P.NewParams, raw)
        await self.settled()
        host = self.runtime.host
        session = await host.new_session(p.title, p.system_prompt, p.model)
        return new_result(session, host.log_dir(session.id))

    async def session_send(self, raw: Any) -> dict[str, Any]:
        p = P.parse(P.SendParams, raw)
        await self.settled()
        attachments = await self._attachments(p.context)
        session_id = await self.runtime.host.session_for_prompt(p.session_id, p.prompt)
        result = await self.runtime.run_turn(
            session_id, p.prompt, p.work_done_token, when_busy=p.when_busy,
            attachments=attachments,
        )
        if isinstance(result, TurnResult):
            return send_result(result)
        return steered_result(result)

    async def session_compact(self, raw: Any) -> dict[str, Any]:
        p = P.parse(P.CompactParams, raw)
        await self.settled()
        return compact_result(await self.runtime.compact(p.session_id))

    async def _attachments(self, items: list[P.ContextItemParams]) -> list[Attachment]:
        if not items:
            return []
        workspace = self.runtime.workspace
        encoding = workspace.position_encoding()

        def select(text: str, wire_range: Any) -> tuple[str, int, int]:
            start = types.Position(line=wire_range.start.line,
                                   character=wire_range.start.character)
            end = types.Position(line=wire_range.end.line, character=wire_range.end.character)
            return selection_range(text, start, end, encoding)

        resolved = [ContextItem(i.type, i.uri, i.range, i.title, i.text) for i in items]
        try:
            return await resolve_attachments(
                resolved, workspace, max_chars=self.runtime.settings.session.max_attachment_chars,
                select=select, diagnostics=self.runtime.diagnostics,
            )
        except AttachmentError as exc:
            raise ParamsError(str(exc), exc.field) from None

    async def session_list(self, raw: Any) -> dict[str, Any]:
        P.parse(P.ListParams, raw)
        return list_result(await self.runtime.host.manager.list_sessions())

    async def session_load(self, raw: Any) -> dict[str, Any]:
        p = P.parse(P.LoadParams, raw)
        manager = self.runtime.host.manager
        loaded = await manager.load(p.session_id)
        reverted = await manager.reverted_messages(p.session_id)
        return load_result(p.session_id, loaded.session.title, loaded.repaired, loaded.messages,
                           reverted)

    async def session_revert(self, raw: Any) -> dict[str, Any]:
        p = P.parse(P.RevertParams, raw)
        result = await self.runtime.host.manager.revert(
            p.session_id, p.turn_id, code=p.code, conversation=p.conversation)
        return revert_result(result)

    async def session_fork(self, raw: Any) -> dict[str, Any]:
        p = P.parse(P.ForkParams, raw)
        return fork_result(await self.runtime.host.manager.fork(p.session_id, p.turn_id))

    async def revert_command(self, args: list[Any]) -> dict[str, Any]:
        """``nexus.revert [{sessionId?, turnId?, code?, conversation?}]``: by default the
        last turn of the command session (the one ``nexus.ask`` uses)."""
        a = P.parse(P.RevertArgs, args[0] if args else {}, what="arguments[0]")
        manager = self.runtime.host.manager
        session_id = a.session_id or self._command_session_id()
        turn_id = a.turn_id or await manager.last_turn(session_id)
        result = await manager.revert(session_id, turn_id, code=a.code,
                                      conversation=a.conversation)
        LspNotifier(self.runtime.server).show_message("info", revert_summary(turn_id, result))
        return {"sessionId": session_id, "turnId": turn_id, **revert_result(result)}

    async def fork_command(self, args: list[Any]) -> dict[str, Any]:
        """``nexus.fork [{sessionId?, turnId?}]``: the fork becomes the command session."""
        a = P.parse(P.ForkParams, args[0] if args else {"sessionId": self._command_session_id()},
                    what="arguments[0]")
        record = await self.runtime.host.manager.fork(a.session_id, a.turn_id)
        self.runtime.ask_session_id = record.session_id
        return fork_result(record)

    def _command_session_id(self) -> str:
        session_id = self.runtime.ask_session_id
        if session_id is None:
            raise ParamsError(
                "no sessionId given and no nexus.ask session to take it from", "sessionId")
        return session_id

    async def revert_action(self) -> list[types.CodeAction]:
        """"Nexus: revert the last turn" when the command session has one left (not
        to a client with its own revert UI: it declared ``clientFeatures.revert``)."""
        session_id = self.runtime.ask_session_id
        if session_id is None or self.runtime.features.get(wire.FEATURE_REVERT):
            return []
        try:
            turn_id = await self.runtime.host.manager.last_turn(session_id)
        except NexusError:
            return []
        argument = {"sessionId": session_id, "turnId": turn_id}
        title = "Nexus: revert the last turn"
        return [types.CodeAction(
            title=title, kind=wire.CODE_ACTION_KIND,
            command=types.Command(title=title, command=wire.COMMAND_REVERT,
                                  arguments=[argument]))]

    async def session_delete(self, raw: Any) -> dict[str, Any]:
        p = P.parse(P.DeleteParams, raw)
        deleted = await self.runtime.host.manager.delete(p.session_id)
        self.runtime.seq.forget(p.session_id)
        return {"deleted": deleted}

    def session_cancel(self, raw: Any) -> None:
        p = P.parse(P.CancelParams, raw)
        if not self.runtime.host.manager.cancel(p.session_id):
            log.info("cancel of %s: no turn is running", p.session_id)

    async def session_set_mode(self, raw: Any) -> dict[str, Any]:
        p = P.parse(P.SetModeParams, raw)
        return {"mode": await self.runtime.host.manager.set_mode(p.session_id, p.mode)}

    async def permissions_list(self, raw: Any) -> dict[str, Any]:
        P.parse(P.PermissionsListParams, raw)
        grants = await self.runtime.host.store.grants.list_grants()
        return {"grants": [g.to_json() for g in grants]}

    async def mcp_list(self, raw: Any) -> dict[str, Any]:
        P.parse(P.McpListParams, raw)
        await self.settled()
        servers = await self.runtime.host.manager.mcp_servers()
        return {"servers": servers.list_json() if servers is not None else []}

    async def permissions_revoke(self, raw: Any) -> dict[str, Any]:
        p = P.parse(P.RevokeParams, raw)
        return {"revoked": await self.runtime.host.store.grants.revoke(p.id)}

    async def ask(
        self, args: list[Any], cancel: CancellationToken, answered: Awaitable[None]
    ) -> dict[str, Any]:
        """``nexus.ask``: a turn on the prompt (and selection) in the command session.

        Answers at once and runs the turn in the background (protocol v2 §7), or with
        ``wait: true`` answers the ``send`` result, ``cancel`` being cancelled by a
        ``$/cancelRequest`` of the command. ``answered`` resolves once the answer is
        written: the transcript is shown after it. A refusal is also shown as a
        message: not every editor shows a command's error.
        """
        try:
            return await self._ask(args, cancel, answered)
        except (NexusError, ParamsError) as exc:
            show_refusal(self.runtime, exc)
            raise

    async def _ask(
        self, args: list[Any], cancel: CancellationToken, answered: Awaitable[None]
    ) -> dict[str, Any]:
        if len(args) != 1:
            raise ParamsError(
                f"arguments: expected [{{prompt, uri?, range?}}], got {len(args)} arguments",
                "arguments",
            )
        a = P.parse(P.AskArgs, args[0], what="arguments[0]")
        await self.settled()
        prompt = await self._ask_prompt(a)
        # An explicit sessionId is resumed (or refused as unknown) like in send; only
        # the remembered command session falls back to a new one when it is gone.
        host = self.runtime.host
        async with self._command_session:
            session_id = a.session_id
            if session_id is None:
                remembered = self.runtime.ask_session_id
                if remembered is not None and host.manager.session(remembered) is not None:
                    session_id = remembered
                else:
                    session_id = (await host.new_session(title=title_from(a.prompt))).id
            self.runtime.ask_session_id = session_id
        if a.wait:
            if session_id in self._asking:
                raise SessionBusy(session_id)
            result = await self.runtime.run_turn(session_id, prompt, cancel_token=cancel)
            shown = show_after_answer(self.runtime, answered, result, a.show_transcript)
            host.spawn(shown, "showing the end of nexus.ask")
            return send_result(result)
        session = await host.manager.get(session_id)  # an unknown session is refused here
        if session.running or session_id in self._asking:
            raise SessionBusy(session_id)
        # The turn the background task starts next (a send could still get in first:
        # then that task is refused as busy and says so).
        turn_id = session.turn_count + 1
        self._asking.add(session_id)
        work = self._run_ask(session_id, prompt, answered, a.show_transcript)
        host.spawn(work, f"nexus.ask turn {turn_id} of {session_id}")
        return {"sessionId": session_id, "turnId": turn_id, "started": True}

    async def _run_ask(
        self, session_id: str, prompt: str, answered: Awaitable[None], show_transcript: bool
    ) -> None:
        try:
            await run_ask(
                self.runtime, session_id, prompt, answered, show_transcript=show_transcript
            )
        finally:
            self._asking.discard(session_id)

    def cancel_all(self) -> dict[str, Any]:
        cancelled = self.runtime.host.cancel_all("cancelled from the editor (nexus.cancel)")
        return {"cancelled": cancelled}

    async def settings_changed(self, pushed: Any) -> None:
        await self.runtime.settings_source.changed(pushed)

    async def settled(self) -> None:
        """Wait for a settings change under way: a turn uses the newest settings."""
        await self.runtime.host.settings_layers.settled()

    def document_event(self, uri: str) -> None:
        self.runtime.workspace.uri_event(uri)

    async def aclose(self) -> None:
        await self.runtime.aclose()

    async def _ask_prompt(self, a: P.AskArgs) -> str:
        if a.uri is None:
            return a.prompt
        workspace = self.runtime.workspace
        path = workspace.resolve(a.uri)
        rel = workspace.relative(path)
        if a.range is None:
            return ask_prompt(a.prompt, path=rel)
        start = types.Position(line=a.range.start.line, character=a.range.start.character)
        end = types.Position(line=a.range.end.line, character=a.range.end.character)
        text = await workspace.read_text(path)
        selected, first, last = selection_range(text, start, end, workspace.position_encoding())
        return ask_prompt(a.prompt, path=rel, selection=selected, first_line=first, last_line=last)
