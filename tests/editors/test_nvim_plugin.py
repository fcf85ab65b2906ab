"""The Neovim plugin's pieces in a real headless Neovim, without a server.

Chat rendering, option validation, the settings shape checks of :checkhealth,
the selection context of a ranged :NexusAsk, lazy loading, the protocol names
module against ``nexus_lsp/wire.py``, and the help file's tags and links.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from nexus_lsp import wire

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "editors" / "nvim"
# `nvim` is the fixture of tests/editors/conftest.py (its `Nvim` class).
Nvim = Any

SETTINGS = {
    "provider": {
        "kind": "openai",
        "baseUrl": "http://127.0.0.1:9/v1",
        "model": "scripted",
        "apiKeyEnv": "NEXUS_TEST_KEY",
    },
    "session": {"maxIterations": 4},
    "logging": {"streams": ["context"]},
    "edits": {"fallbackToDisk": True},
    "codeActions": [{"title": "Explain", "prompt": "Explain it."}],
}


async def test_chat_rendering_options_and_helpers(nvim: Nvim, tmp_path: Path) -> None:
    report = (await nvim.run("unit.lua", cwd=tmp_path, settings=SETTINGS)).report

    # Lazy: plugin/nexus.lua only defines commands.
    assert report["loaded_at_start"] == []
    assert all(report["commands"].values()), report["commands"]

    assert report["chat"] == [
        "# Nexus",
        "",
        "## You",
        "",
        "Rename foo",
        "please",
        "",
        "## Nexus",
        "",
        "> Thinking about it",
        "> step two",
        "",
        "I'll edit it.",
        "Now",
        "",
        "- [failed] edit_file a.py: oldText not found",
        "- [completed] rename_file b.py -> c.py",
        "- [skipped] mcp_tool",
        "",
        "Done.",
        "",
        "_done · 12 in / 5 out tokens_",
        "",
        "## You",
        "",
        "again",
        "",
        "## Nexus",
        "",
        "_stopped: tool iteration limit reached_",
        "",
        "**Error:** providerAuth: bad key",
    ]
    # Reasoning rows (0-based) are dimmed.
    assert report["dimmed_rows"] == [9, 10]
    assert report["reasoning_hl_after_colorscheme"] == "Comment"
    assert report["chat_name"] == "nexus://chat//tmp/unit-root"
    assert report["chat_modifiable"] is False
    assert report["chat_buftype"] == "nofile"

    assert report["after_wipe"] == ["# Nexus", "", "- [completed] edit_file"]
    assert report["after_unload"] == ["# Nexus", "", "> more"]

    assert report["history"] == [
        "# Loaded title",
        "",
        "_the conversation before this point was summarised (compaction; see :NexusLog)_",
        "",
        "## You",
        "",
        "old question",
        "",
        "## Nexus",
        "",
        "Reading.",
        "",
        "- [done] read_file x.py",
        "",
        "It says text.",
    ]

    [message] = report["bad_options_messages"]
    assert "write_on_edit: expected a boolean, got string" in message["msg"]
    assert 'chat.position: expected right, left, above, below, tab or current, got "middle"' in (
        message["msg"]
    )
    assert report["options_after_bad"] == {
        "write_on_edit": False,
        "position": "right",
        "cmd": ["my-nexus", "--stdio"],
    }

    assert report["settings_ok"] == []
    assert report["settings_bad"] == [
        "codeActions: item 1: expected { title = string, prompt = string }",
        "extra: unknown setting",
        'logging.streams: unknown stream "debug" (context, verbose, raw)',
        'provider.baseUrl: expected an http(s) URL, got "ftp://h"',
        'provider.kind: expected one of openai, anthropic, got "x"',
        'provider.maxRetries: expected a number, got "3"',
        "session.maxIterations: expected a positive integer, got 1.5",
    ]
    assert report["version_command"] == ["nexus-lsp", "--version"]

    # The selection: relative path, line numbers, the text in a fence that a
    # backtick line inside cannot close.
    assert report["context"] == (
        "Selected lines 2-3 of `src/app.py`:\n\n````python\nb = 2\n```\n````"
    )
    assert report["context_single"] == "Selected line 4 of `src/app.py`:\n\n```python\nc = 3\n```"
    assert report["format_session"] == "Fix the parser  [2025-01-02 04:05, 3 turns] interrupted"

    assert report["progress_format"] == [
        "Nexus: batch 1 (2 tools) (0%)",
        "Nexus: edit_file: completed (1/2) (50%)",
        "Nexus: completed",
    ]
    assert report["status_idle"] == ""

    # Protocol v2: a command's output streams under its own line (before the next
    # tool's), colour codes and carriage returns dropped, then how it ended.
    assert report["output_chat"][-8:] == [
        "- [completed] run_command `make test` in sub",
        "  ```",
        "  ok 1",
        "  partial",
        "  ```",
        "  _timed out · ended by SIGTERM · 2001 ms · output cut_",
        "- [completed] run_command `true`",
        "  _exit 0 · 3 ms_",
    ]
    assert report["usage_text"] == ["5.2k/128k (4%)", "~999/1k (100%)", ""]
    assert report["item_names"] == ["src/app.py:3-9", "src/app.py:4", "diagnostics"]
    assert report["file_item"] == {
        "type": "file", "uri": "file:///tmp/unit-root/src/app.py",
        "range": {"start": {"line": 2, "character": 0}, "end": {"line": 9, "character": 0}},
    }
    assert report["revert_summary"] == [
        "reverted turn 3: a.py restored, n.py deleted; conflicts, your text kept: "
        "c.py (you changed lines 3-4 too); 4 message(s) reverted",
        False,
    ]
    assert report["mcp_line"] == (
        "db: failed (project, stdio), 0 tools — exited at start (exit code 1)"
    )
    assert report["grant_line"] == "allow run_command `pytest *`  [2026-11-30 10:11]"
    assert report["permission_prompt"] == "Nexus: Run `ls` now?"
    assert report["settings_v2"] == []
    assert report["settings_v2_bad"] == [
        "mcpServers: broken: expected { command = string, args = {...} } or { url = string }",
        'permissions.mode: expected one of default, plan, acceptEdits, strict, auto, got "yolo"',
        "permissions.rules: item 1: expected { tool = string, match = string, "
        "action = allow|deny|ask }",
        "session.compactAt: expected a number in (0, 1], got 2",
    ]

    assert report["missing_server_chat"][-1] == (
        "**Error:** could not start the nexus server (nexus-lsp-not-installed): "
        "is it installed? See :checkhealth nexus"
    )


async def test_protocol_module_mirrors_wire_py(nvim: Nvim, tmp_path: Path) -> None:
    lua = (await nvim.run("unit.lua", cwd=tmp_path, settings=SETTINGS)).report["protocol"]
    python = {
        name: value
        for name, value in vars(wire).items()
        if name.isupper() and isinstance(value, str | int)
    }
    assert python, "no constants found in nexus_lsp.wire"
    for name, value in python.items():
        assert lua.get(name) == value, f"protocol.lua {name}: {lua.get(name)!r} != {value!r}"
    # The Lua module adds only the stop reasons (protocol §2), which wire.py leaves to pydantic.
    extra = set(lua) - set(python)
    assert extra == {"STOP_END_TURN", "STOP_MAX_ITERATIONS", "STOP_CANCELLED", "STOP_ERROR"}


HELP_CHECK = """
local dir = assert(vim.env.NEXUS_HELP_DIR)
vim.cmd("helptags " .. vim.fn.fnameescape(dir))
vim.opt.runtimepath:prepend(vim.fs.dirname(dir))
local ok, err = pcall(vim.cmd, "help nexus-commands")
local opened = ok and vim.fn.expand("%:t") or err
io.stdout:write(vim.json.encode({ opened = opened, runtime = vim.env.VIMRUNTIME }), "\\n")
"""


async def test_help_file_has_valid_tags_and_links(nvim: Nvim, tmp_path: Path) -> None:
    # helptags writes a `tags` file: work on a copy so none lands in the repository.
    copy = tmp_path / "plugin"
    shutil.copytree(PLUGIN_DIR / "doc", copy / "doc")
    script = tmp_path / "help.lua"
    script.write_text(HELP_CHECK)
    run = await nvim.run(script, cwd=tmp_path, env={"NEXUS_HELP_DIR": str(copy / "doc")})
    assert run.report["opened"] == "nexus.txt"
    assert not (PLUGIN_DIR / "doc" / "tags").exists()

    tags = {line.split("\t")[0] for line in (copy / "doc" / "tags").read_text().splitlines()}
    expected = {
        "nexus", "nexus.txt", "nexus-setup", "nexus-options", "nexus-settings",
        "nexus-commands", ":NexusAsk", ":NexusCancel", ":NexusNew", ":NexusSessions",
        ":NexusLog", ":NexusChat", "nexus-chat", "nexus-edits", "nexus-progress",
        "nexus-health", "nexus-api", "nexus-events", "nexus-highlights", "nexus.setup()",
        ":NexusMode", ":NexusPermissions", "nexus-permissions", ":NexusAdd",
        ":NexusAddDiagnostics", ":NexusCompact", ":NexusRevert", ":NexusFork", ":NexusMcp",
        "nexus-context", "nexus-revert", "nexus-mcp",
    }  # fmt: skip
    assert expected <= tags, expected - tags

    # Every |link| resolves to our tags or to Neovim's own help.
    runtime_tags = {
        line.split("\t")[0]
        for line in (Path(run.report["runtime"]) / "doc" / "tags").read_text().splitlines()
    }
    text = (PLUGIN_DIR / "doc" / "nexus.txt").read_text()
    links = set(re.findall(r"\|([^|\s]+)\|", text))
    unresolved = {link for link in links if link not in tags and link not in runtime_tags}
    assert not unresolved, unresolved


async def test_without_cmd_the_server_is_found_on_path_or_in_the_project_venv(
    nvim: Nvim, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    (workspace / ".git").mkdir(parents=True)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    venv_bin = Path(sys.executable).parent
    env = {
        "PATH": f"{empty}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "NEXUS_TEST_VENV_BIN": str(venv_bin),
    }
    report = (await nvim.run("locate.lua", cwd=workspace, settings=SETTINGS, env=env)).report
    root = report["root"]
    assert root == str(workspace)
    local = f"{workspace}/.venv/bin/nexus-lsp"

    # Not installed: the chat says what was tried and how to install; so does :checkhealth.
    assert report["missing"] == {"found": False, "tried": f"nexus-lsp on PATH, {local}"}
    error = report["missing_chat"][-1]
    assert error.startswith(f"**Error:** nexus-lsp not found (tried nexus-lsp on PATH, {local})")
    assert "pipx install" in error and "uv tool install" in error
    health = "\n".join(report["missing_health"])
    assert f"ERROR nexus-lsp not found (tried nexus-lsp on PATH, {local})" in health, health
    assert "pipx install /path/to/nexus-lsp" in health
    assert "uv tool install /path/to/nexus-lsp" in health
    assert ".venv/bin/pip install" in health

    # In the project's .venv: the server starts from there and :checkhealth runs it.
    assert report["venv_started"] == {"cmd": [local]}, report["venv_started"]
    health = "\n".join(report["venv_health"])
    assert f"server command found: {local} (from the project's .venv)" in health, health
    assert "server version: nexus-lsp " in health

    # On PATH it wins; the option wins over both.
    assert report["path_cmd"] == [["nexus-lsp"], "PATH"]
    assert report["option_cmd"] == [["my-nexus", "--stdio"], "option"]
