"""Command-line entry points: ``nexus-lsp`` serves LSP; ``ask`` and ``demo`` are its clients.

Editors start ``nexus-lsp`` often and wait for ``initialize``, so the serve path stays
light: this module imports only the standard library (and the stdlib-only
``client.outcome``) at top level, and the server,
the ask client (pygls, lsprotocol) and the settings model (pydantic) are imported when
their command runs.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from nexus_lsp.client.outcome import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_MAX_ITERATIONS,
    EXIT_OK,
    EXIT_TURN_ERROR,
    EXIT_USAGE,
    exit_code,
    report_outcome,
)

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_MAX_ITERATIONS",
    "EXIT_OK",
    "EXIT_TURN_ERROR",
    "EXIT_USAGE",
    "main",
]

# Provider settings that may come from the environment (lowest precedence first:
# NEXUS_SETTINGS, then these, then --settings).
_ENV_PROVIDER = {
    "NEXUS_PROVIDER": "kind",
    "NEXUS_BASE_URL": "baseUrl",
    "NEXUS_MODEL": "model",
    "NEXUS_API_KEY_ENV": "apiKeyEnv",
}

_ASK_EPILOG = f"""\
settings (protocol §7 object, merged in this order, later wins):
  $XDG_CONFIG_HOME/nexus-lsp/settings.json, then the workspace's .nexus/settings.json
  NEXUS_SETTINGS            JSON or @file
  NEXUS_PROVIDER, NEXUS_BASE_URL, NEXUS_MODEL, NEXUS_API_KEY_ENV
                            provider.kind / baseUrl / model / apiKeyEnv
  --settings                JSON or @file
  The API key itself is read by the server from the variable named by apiKeyEnv.

permissions:
  --mode MODE               plan | default | acceptEdits | strict | auto
  --allow PATTERN           run commands matching PATTERN unasked ('pytest *')
  Commands (and, in strict mode, edits) are asked on the terminal when stdin is one;
  otherwise they are refused, and the turn goes on without them.

output:
  the answer streams to stdout; tool calls, progress and the summary (session id,
  transcript path) go to stderr.

exit status:
  {EXIT_OK}    the turn ended normally (endTurn)
  {EXIT_TURN_ERROR}    the turn ended in error (error.code is printed on stderr)
  {EXIT_USAGE}    bad arguments or settings
  {EXIT_MAX_ITERATIONS}    the turn stopped at session.maxIterations
  {EXIT_FAILED}    no turn result: the server failed or refused the request
  {EXIT_CANCELLED}  cancelled with Ctrl-C (a second Ctrl-C quits at once)
"""


class _VersionAction(argparse.Action):
    """Like ``action="version"``, but reads the installed version only when asked
    (importlib.metadata costs ~25 ms, paid on every server start otherwise)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        sys.stdout.write(f"{parser.prog} {_version()}\n")
        parser.exit(EXIT_OK)


class UsageError(Exception):
    """A command-line problem; the message names the option."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "ask":
            return _ask(args)
        if args.command == "revert":
            return _revert(args)
        if args.command == "acp":
            return _acp(args)
        if args.command == "demo":
            from nexus_lsp.demo import run_demo

            return run_demo(keep=args.keep)
        return _serve(args)
    except UsageError as exc:
        prog = f"{parser.prog} {args.command}" if args.command else parser.prog
        parser.exit(EXIT_USAGE, f"{prog}: error: {exc}\n")
    except KeyboardInterrupt:
        return EXIT_CANCELLED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nexus-lsp",
        description="An LLM agent session inside any LSP editor. Without a command, "
        "serve the Language Server Protocol on stdio (how editors run it).",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="serve on stdio (the default)")
    transport.add_argument("--tcp", action="store_true", help="serve on TCP (loopback only)")
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (required with --tcp)")
    parser.add_argument("--log-file", metavar="PATH", help="write the server log to PATH")
    # vscode-languageclient may append this; the server does not need it.
    parser.add_argument("--clientProcessId", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="{ask,acp,revert,demo}")
    _add_ask(commands)
    _add_acp(commands)
    _add_revert(commands)
    demo = commands.add_parser(
        "demo",
        help="offline demo: a scripted model fixes a bug in a sample project",
        description="Copy a tiny sample project to a temporary folder and run one turn "
        "through the real server against a scripted model on 127.0.0.1: no network, "
        "no key. Shows the streamed answer, the tool calls, the diff and the .nexus log.",
    )
    demo.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser


def _add_ask(commands: Any) -> None:
    ask = commands.add_parser(
        "ask",
        help="run one turn headless, applying the model's edits to disk",
        description="Start the server, send PROMPT as one turn in the workspace, stream "
        "the answer and apply the edits to disk (nexus-lsp ask is the editor).",
        epilog=_ASK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ask.add_argument("--workspace", metavar="DIR", default=".", help="workspace folder (cwd)")
    session = ask.add_mutually_exclusive_group()
    session.add_argument(
        "--session", metavar="ID", help="continue session ID ('last' = the most recent one)"
    )
    session.add_argument("--new", action="store_true", help="start a new session (the default)")
    ask.add_argument("--settings", metavar="JSON|@FILE", help="settings object (protocol §7)")
    ask.add_argument(
        "--mode", choices=("default", "plan", "acceptEdits", "strict", "auto"),
        help="permission mode of the turn (permissions.mode; default: from the settings)",
    )
    ask.add_argument(
        "--allow", metavar="PATTERN", action="append", default=[],
        help="run commands matching PATTERN without asking (a run_command rule, e.g. "
        "'pytest *'); repeatable",
    )
    ask.add_argument("--log-file", metavar="PATH", help="write the server log to PATH")
    ask.add_argument("-v", "--verbose", action="store_true", help="server log and details")
    ask.add_argument("prompt", metavar="PROMPT", help="the prompt; '-' reads it from stdin")


def _add_revert(commands: Any) -> None:
    revert = commands.add_parser(
        "revert",
        help="revert a turn (and every later one) of a session: code and conversation",
        description="Restore the files a turn changed to their state before it (three-way: "
        "changes made since are kept, overlapping ones listed as conflicts) and mark its "
        "messages reverted. Works on the workspace's .nexus store and files directly.",
        epilog="exit status: 0 reverted; 1 failed (unknown session or turn, session "
        "busy); 2 bad arguments; 3 reverted with conflicts or files not restored",
    )
    revert.add_argument("--workspace", metavar="DIR", default=".", help="workspace folder")
    revert.add_argument("--session", metavar="ID", required=True, help="the session")
    revert.add_argument("--turn", metavar="N", type=int, required=True,
                        help="the first turn to revert (later ones are reverted too)")
    only = revert.add_mutually_exclusive_group()
    only.add_argument("--code-only", action="store_true", help="keep the conversation")
    only.add_argument("--conversation-only", action="store_true", help="keep the files")
    revert.add_argument("--json", action="store_true", help="print the result as JSON")


def _revert(args: argparse.Namespace) -> int:
    workspace = Path(args.workspace).expanduser()
    if not workspace.is_dir():
        raise UsageError(f"--workspace {args.workspace}: not a directory")
    if args.turn < 1:
        raise UsageError(f"--turn {args.turn}: turns are numbered from 1")
    from nexus_lsp.revert_cli import run_revert

    return run_revert(workspace.resolve(), args.session, args.turn,
                      code=not args.conversation_only, conversation=not args.code_only,
                      as_json=args.json)


def _add_acp(commands: Any) -> None:
    acp = commands.add_parser(
        "acp",
        help="serve the Agent Client Protocol on stdio (Zed, JetBrains, CodeCompanion, avante)",
        description="Serve the Agent Client Protocol (ACP v1) on stdio: newline-delimited "
        "JSON on stdin/stdout, logs on stderr. ACP carries no settings, so they are read "
        "from (later wins): --settings-file, --settings, the user file "
        "$XDG_CONFIG_HOME/nexus-lsp/settings.json, the workspace's .nexus/settings.json.",
    )
    acp.add_argument("--settings", metavar="JSON", help="settings object (protocol §7)")
    acp.add_argument("--settings-file", metavar="PATH", help="settings object from a file")
    acp.add_argument("--log-file", metavar="PATH", help="write the server log to PATH")


def _acp(args: argparse.Namespace) -> int:
    from nexus_lsp.host import settings_files as files

    layers: list[files.SettingsLayer] = []
    if args.settings_file is not None:
        layer, problem = files.read_settings_file(Path(args.settings_file).expanduser())
        if problem is None and layer is None:
            problem = f"--settings-file {args.settings_file}: no such file"
        layers += _layer_or_fail(layer, problem)
    if args.settings is not None:
        layers += _layer_or_fail(*files.parse_settings_text(args.settings, "--settings"))
    user, problem = files.read_settings_file(files.user_settings_path(os.environ))
    if problem is not None:
        sys.stderr.write(f"nexus-lsp acp: warning: {problem}; ignored\n")
    if user is not None:
        layers.append(user)
    from nexus_lsp.acp.serve import serve_acp

    _exit_now(serve_acp(layers, args.log_file))


def _layer_or_fail(layer: Any, problem: str | None) -> list[Any]:
    if problem is not None:
        raise UsageError(problem)
    return [layer] if layer is not None else []


def _serve(args: argparse.Namespace) -> int:
    if not args.tcp:
        if args.port is not None:
            raise UsageError("--port needs --tcp")
        from nexus_lsp.lsp import serve_stdio

        _exit_now(serve_stdio(args.log_file))
    if args.port is None:
        raise UsageError("--tcp needs --port N")
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected a port number from 1 to 65535")
    host = _loopback_host(args.host)
    from nexus_lsp.lsp import serve_tcp

    _exit_now(serve_tcp(host, args.port, args.log_file))


def _exit_now(code: int) -> NoReturn:
    """End the process once serving is over (turns closed, store closed).

    A thread still blocked reading a terminal's stdin would otherwise keep the
    interpreter alive after `exit`, and LSP clients wait for the process to end.
    """
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


def _loopback_host(host: str) -> str:
    """The host to bind, refusing anything but loopback: the protocol has no auth."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"--host {host}: refusing to listen on a non-loopback address; nexus-lsp has "
            "no authentication, so it only listens on 127.0.0.1 (or another loopback address)"
        )
    return host


def _ask(args: argparse.Namespace) -> int:
    workspace = Path(args.workspace).expanduser()
    if not workspace.is_dir():
        raise UsageError(f"--workspace {args.workspace}: not a directory")
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UsageError("PROMPT is empty")
    settings = with_permission_flags(
        ask_settings(args.settings, os.environ, workspace.resolve()), args.mode, args.allow
    )
    command = [sys.executable, "-m", "nexus_lsp", "--stdio"]
    if args.log_file:
        command += ["--log-file", str(Path(args.log_file).resolve())]

    import asyncio

    from nexus_lsp.client.ask import AskRequest, run_ask
    from nexus_lsp.client.render import TurnRenderer

    request = AskRequest(
        workspace=workspace.resolve(),
        prompt=prompt,
        session_id=args.session,
        settings=settings,
        server_command=command,
        # questions are read from the terminal; a piped prompt used stdin up
        ask_permissions=args.prompt != "-" and sys.stdin.isatty(),
    )
    renderer = TurnRenderer(sys.stdout, sys.stderr, verbose=args.verbose)
    outcome = asyncio.run(run_ask(request, renderer))
    from nexus_lsp.client.permission import refusal_hint

    refusal_hint(outcome.result, renderer.note)
    report_outcome(outcome, request.workspace, renderer)
    return exit_code(outcome)


def with_permission_flags(
    settings: dict[str, Any], mode: str | None, allow: Sequence[str]
) -> dict[str, Any]:
    """``--mode`` and ``--allow`` over the settings (protocol v2 §1)."""
    permissions = dict(settings.get("permissions") or {})
    if mode is not None:
        permissions["mode"] = mode
    for pattern in allow:
        if not pattern.strip():
            raise UsageError("--allow: the pattern is empty")
        rule = {"tool": "run_command", "match": pattern, "action": "allow"}
        permissions["rules"] = [*permissions.get("rules", ()), rule]
    return {**settings, "permissions": permissions} if permissions else settings


def ask_settings(
    option: str | None, environ: Mapping[str, str], workspace: Path | None = None
) -> dict[str, Any]:
    """The settings object for ``ask``: the settings files (the user's, then the
    workspace's ``.nexus/settings.json``, as ``nexus-lsp acp`` reads them), then the
    environment and ``--settings``.

    Validated here so that a typo fails at once with the field named (and the file
    it is in), instead of a warning from the server and a turn run with the defaults.
    """
    from nexus_lsp.config import parse_settings
    from nexus_lsp.host import settings_files as files
    from nexus_lsp.host.settings import unwrap_section

    settings: dict[str, Any] = {}
    paths = [files.user_settings_path(environ)]
    if workspace is not None:
        paths.append(files.workspace_settings_path(workspace))
    for path in paths:
        layer, problem = files.read_settings_file(path)
        if problem is not None:
            raise UsageError(problem)
        if layer is not None:
            _, problems = parse_settings(unwrap_section(layer.raw))
            if problems:
                raise UsageError(f"{layer.where}: invalid settings: " + "; ".join(problems))
            settings = _merge(settings, unwrap_section(layer.raw))
    if environ.get("NEXUS_SETTINGS"):
        settings = _merge(settings, _settings_object(environ["NEXUS_SETTINGS"], "NEXUS_SETTINGS"))
    provider = {key: environ[name] for name, key in _ENV_PROVIDER.items() if environ.get(name)}
    if provider:
        settings = _merge(settings, {"provider": provider})
    if option is not None:
        settings = _merge(settings, _settings_object(option, "--settings"))

    _, problems = parse_settings(settings)
    if problems:
        raise UsageError("invalid settings: " + "; ".join(problems))
    return settings


def _settings_object(text: str, origin: str) -> dict[str, Any]:
    import json

    if text.startswith("@"):
        origin = f"{origin} {text}"
        try:
            text = Path(text[1:]).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{origin}: cannot read the file: {exc}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{origin}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(value, dict):
        raise UsageError(f"{origin}: expected a JSON object, got {type(value).__name__}")
    return value


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nexus-lsp")
    except PackageNotFoundError:
        return "unknown"
