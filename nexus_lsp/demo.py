"""``nexus-lsp demo``: one real turn, offline, with no key — the README's first command.

It copies the sample project (``demo_workspace/``) to a temporary folder, starts the
scripted model server (``nexus_lsp.testing``) in this process on 127.0.0.1 with
``testing/scripts/demo.json``, and runs the turn exactly as ``nexus-lsp ask`` does:
a spawned ``nexus-lsp`` server, this process as the editor applying its edits. Then
it shows what changed in the workspace (a unified diff) and what was logged in
``.nexus`` (a tree with sizes and the head of the Markdown transcript).
"""

from __future__ import annotations

import asyncio
import difflib
import os
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import TextIO

from nexus_lsp import wire
from nexus_lsp.client.ask import AskRequest, run_ask
from nexus_lsp.client.outcome import exit_code, report_outcome
from nexus_lsp.client.render import Style, TurnRenderer

__all__ = ["DEMO_PROMPT", "run_demo"]

DEMO_PROMPT = "`python greet.py` prints the wrong initials (see README.md). Please fix it."
TRANSCRIPT_HEAD_LINES = 30
_RULE_WIDTH = 72


def run_demo(*, keep: bool = False, out: TextIO | None = None) -> int:
    """Run the demo; returns the exit status (0 when the turn ended normally)."""
    out = out or sys.stdout
    try:
        from nexus_lsp.testing import Script, ScriptedModelServer  # noqa: F401  (aiohttp)
    except ImportError as exc:
        print(
            f"nexus-lsp demo needs the scripted model server ({exc}); "
            "install it with: pip install 'nexus-lsp[demo]'",
            file=sys.stderr,
        )
        return 4
    base = Path(tempfile.mkdtemp(prefix="nexus-demo-"))
    try:
        return asyncio.run(_demo(base / "greet", out))
    finally:
        if keep:
            print(f"\nKept the demo folder: {base / 'greet'}", file=out)
        else:
            shutil.rmtree(base, ignore_errors=True)
            print("\n(The demo folder was removed; `nexus-lsp demo --keep` keeps it.)", file=out)


async def _demo(workspace: Path, out: TextIO) -> int:
    from nexus_lsp.testing import Script, ScriptedModelServer

    _copy_sample(workspace)
    before = _snapshot(workspace)
    style = Style.for_stream(out)
    script = Script.load(_script_path())
    out.write(
        style.bold("nexus-lsp demo")
        + ": a scripted model on 127.0.0.1 (no network, no key) works in a copy of\n"
        "a tiny Python project, through the real language server.\n\n"
        f"  workspace  {workspace}\n  prompt     {DEMO_PROMPT}\n\n"
    )
    _rule(out, style, "the turn, as it streams")
    async with ScriptedModelServer(script) as model:
        request = AskRequest(
            workspace=workspace,
            prompt=DEMO_PROMPT,
            settings={
                "provider": {
                    "kind": "openai",
                    "baseUrl": model.openai_base_url,
                    "model": "scripted-demo",
                    "apiKeyEnv": "NEXUS_DEMO_API_KEY",  # unset: the scripted model needs none
                    "maxRetries": 0,
                }
            },
            env=_server_env(),
        )
        # One stream, so that `nexus-lsp demo | less` keeps everything in order.
        renderer = TurnRenderer(out, out)
        outcome = await run_ask(request, renderer)
        report_outcome(outcome, workspace, renderer)
    out.write("\n")
    _rule(out, style, "what changed in the workspace")
    _show_diff(before, _snapshot(workspace), out, style)
    _rule(out, style, f"what was logged in {wire.NEXUS_DIR}/")
    _show_tree(workspace / wire.NEXUS_DIR, out, style)
    if outcome.session_id:
        _show_transcript_head(workspace, outcome.session_id, out, style)
    out.write(
        "\nWith a real model: nexus-lsp ask --settings "
        '\'{"provider": {"kind": "openai", "baseUrl": "http://127.0.0.1:11434/v1", '
        '"model": "qwen2.5-coder:7b"}}\' "your prompt"\n'
    )
    out.flush()
    return exit_code(outcome)


def _script_path() -> Path:
    return Path(str(resources.files("nexus_lsp") / "testing" / "scripts" / "demo.json"))


def _copy_sample(workspace: Path) -> None:
    sample = resources.files("nexus_lsp") / "demo_workspace"
    with resources.as_file(sample) as source:
        shutil.copytree(source, workspace, ignore=shutil.ignore_patterns("__pycache__"))


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("NEXUS_DEMO_API_KEY", None)
    # A proxy configured for the internet must not intercept the loopback model server.
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, [env.get(name), "127.0.0.1", "localhost"]))
    return env


def _snapshot(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in (wire.NEXUS_DIR, "__pycache__") or not path.is_file():
            continue
        files[rel.as_posix()] = path.read_text(encoding="utf-8", errors="replace")
    return files


def _show_diff(before: dict[str, str], after: dict[str, str], out: TextIO, style: Style) -> None:
    changed = False
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        changed = True
        lines = difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            (new or "").splitlines(keepends=True),
            fromfile=f"a/{name}" if old is not None else "/dev/null",
            tofile=f"b/{name}" if new is not None else "/dev/null",
        )
        for line in lines:
            text = line if line.endswith("\n") else line + "\n"
            if line.startswith(("+++", "---")):
                out.write(style.bold(text.rstrip("\n")) + "\n")
            elif line.startswith("+"):
                out.write(style.green(text.rstrip("\n")) + "\n")
            elif line.startswith("-"):
                out.write(style.red(text.rstrip("\n")) + "\n")
            elif line.startswith("@@"):
                out.write(style.cyan(text.rstrip("\n")) + "\n")
            else:
                out.write(text)
    if not changed:
        out.write("(no files changed)\n")
    out.write("\n")


def _show_tree(root: Path, out: TextIO, style: Style) -> None:
    if not root.is_dir():
        out.write(f"({root.name} was not created)\n\n")
        return
    out.write(style.bold(f"{root.name}/") + "\n")
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        indent = "  " * len(rel.parts)
        if path.is_dir():
            out.write(f"{indent}{rel.name}/\n")
        else:
            size = _human_size(path.stat().st_size)
            out.write(f"{indent}{rel.name:<{max(34 - len(indent), 1)}} {style.dim(size)}\n")
    out.write("\n")


def _show_transcript_head(workspace: Path, session_id: str, out: TextIO, style: Style) -> None:
    transcript = workspace / wire.NEXUS_DIR / wire.SESSIONS_DIR / session_id / wire.CONTEXT_MD
    if not transcript.is_file():
        return
    lines = transcript.read_text(encoding="utf-8", errors="replace").splitlines()
    # The system prompt opens the transcript; the turn is the interesting part.
    turn = next((i for i, line in enumerate(lines) if line.startswith("## Turn")), 0)
    lines = lines[turn:]
    rel = transcript.relative_to(workspace).as_posix()
    _rule(out, style, f"{rel} (from the turn on)")
    for line in lines[:TRANSCRIPT_HEAD_LINES]:
        out.write(f"  {line}\n")
    if len(lines) > TRANSCRIPT_HEAD_LINES:
        out.write(style.dim(f"  … {len(lines) - TRANSCRIPT_HEAD_LINES} more lines") + "\n")


def _rule(out: TextIO, style: Style, title: str) -> None:
    out.write(style.bold(f"── {title} ".ljust(_RULE_WIDTH, "─")) + "\n")
    out.flush()


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
