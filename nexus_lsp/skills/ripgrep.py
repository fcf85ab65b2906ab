"""Searching and listing the workspace with ripgrep (the ``rg`` of the ``ripgrep`` package).

``rg`` runs as a subprocess started from a worker thread, its pipes read by the
event loop, so the loop only reads its ``--json`` lines: a search of a large tree
stalls no other request (the pure-Python walk it replaces read up to 20,000 files
on the loop). What it is told:

* confined to the workspace: it searches a resolved path inside the root and
  follows no symlink (no ``-L``); a target that is not a folder or a regular file
  (a named pipe would block it) is not searched at all;
* ``.gitignore`` (and ``.ignore``) honoured, in a git repository or not; hidden
  files searched, but never ``.git/``, ``.nexus/`` or the folders
  :data:`~nexus_lsp.skills.disk.SKIPPED_DIRS` names, whatever their case;
* files over 2 MiB and binary files skipped; paths sorted, so a cut list is the
  same from run to run;
* bounded: it is killed once ``max_matches`` + 1 matches arrived, when
  ``SEARCH_TIMEOUT`` passes, and when the search is cancelled (the process is
  killed and reaped before the call returns).

:class:`RgUnavailable` says the search cannot run here (no binary, it cannot be
executed, or the pattern is a Python regular expression ``rg`` does not know,
such as a look-ahead): the caller then falls back to the Python walk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.threads import run_in_thread

__all__ = [
    "SEARCH_TIMEOUT",
    "Match",
    "RgUnavailable",
    "SearchResult",
    "find_rg",
    "rg_files",
    "rg_search",
]

log = logging.getLogger(__name__)

SEARCH_TIMEOUT = 30.0
MAX_FILE_SIZE = "2M"
MAX_LINE_BYTES = 1024 * 1024  # a longer JSON line (a minified file's line) is skipped
_READ = 64 * 1024
# Never searched nor listed (case-insensitive globs): the repository, the sessions,
# and folders of installed or generated files.
EXCLUDED = (".git", ".nexus", "node_modules", ".venv", "__pycache__", ".mypy_cache")


class RgUnavailable(Exception):
    """``rg`` cannot do this search here; the reason is the message."""


@dataclass(frozen=True, slots=True)
class Match:
    path: Path  # absolute, as the OS names it (undecodable bytes as surrogates)
    line: int
    text: str  # the line, without its line end


@dataclass(slots=True)
class SearchResult:
    matches: list[Match] = field(default_factory=list)
    cut: bool = False  # more matches than asked for exist
    timed_out: bool = False


@functools.cache
def find_rg() -> str | None:
    """The ``rg`` binary: the ``ripgrep`` package's (installed in this interpreter's
    scripts folder, the venv's ``bin``), else one on ``PATH``; None if there is none."""
    names = ("rg.exe", "rg") if os.name == "nt" else ("rg",)
    folders = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    with contextlib.suppress(KeyError, ValueError):
        folders.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    for folder in folders:
        for name in names:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    return shutil.which("rg")


def _base_args() -> list[str]:
    args = ["--no-config", "--hidden", "--no-require-git", "--sort", "path", "--no-messages"]
    for name in EXCLUDED:
        args += ["--iglob", f"!{name}"]
    return args


async def rg_search(root: Path, target: Path, pattern: str, glob: str | None, *,
                    max_matches: int, token: CancellationToken,
                    seconds: float = SEARCH_TIMEOUT) -> SearchResult:
    """Lines matching ``pattern`` under ``target`` (a resolved path inside ``root``)."""
    if not _searchable(target):
        return SearchResult()
    args = [*_base_args(), "--json", "--max-filesize", MAX_FILE_SIZE]
    if glob:
        args += ["--glob", glob]
    args += ["--regexp", pattern, "--", str(target)]
    result = SearchResult()

    def on_line(message: dict[str, Any]) -> bool:
        if message.get("type") != "match":
            return True
        data = message["data"]
        result.matches.append(Match(_path(data["path"]), int(data["line_number"]),
                                    _text(data["lines"]).rstrip("\r\n")))
        if len(result.matches) > max_matches:
            result.cut = True
            del result.matches[max_matches:]
            return False
        return True

    code, stderr, result.timed_out = await _run(args, root, on_line, token, seconds)
    if code == 2 and not result.matches and "regex" in stderr.lower():
        raise RgUnavailable(f"rg does not accept the pattern: {stderr.strip()[:300]}")
    return result


async def rg_files(root: Path, token: CancellationToken | None = None, *,
                   seconds: float = SEARCH_TIMEOUT) -> list[Path]:
    """The workspace's files, ``.gitignore`` honoured, without ``.git/`` and ``.nexus/``
    (and the other excluded folders), sorted; :class:`RgUnavailable` if ``rg`` cannot run."""
    found: list[Path] = []

    def on_line(line: bytes) -> bool:
        found.append(Path(os.fsdecode(line)))
        return True

    code, stderr, timed_out = await _run([*_base_args(), "--files", "--", str(root)], root,
                                         on_line, token or CancellationToken(), seconds,
                                         json_lines=False)
    if timed_out:
        raise RgUnavailable(f"rg --files did not finish within {seconds:g}s")
    if code not in (0, 1):
        raise RgUnavailable(f"rg --files failed (exit {code}): {stderr.strip()[:300]}")
    return found


def _searchable(target: Path) -> bool:
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) or stat.S_ISREG(mode)


def _path(value: dict[str, str]) -> Path:
    if "text" in value:
        return Path(value["text"])
    return Path(os.fsdecode(b64decode(value["bytes"])))


def _text(value: dict[str, str]) -> str:
    if "text" in value:
        return value["text"]
    return b64decode(value["bytes"]).decode("utf-8", "replace")


async def _run(args: Sequence[str], cwd: Path, on_line: Any, token: CancellationToken,
               seconds: float, *, json_lines: bool = True) -> tuple[int, str, bool]:
    """Run ``rg args``; each stdout line to ``on_line`` (parsed JSON, or the raw bytes)
    until it returns False. (exit code, stderr excerpt, timed out). Kills ``rg`` on
    every way out: enough lines, timeout, cancel, an error."""
    binary = find_rg()
    if binary is None:
        raise RgUnavailable("no rg binary (the ripgrep package is not installed)")
    token.raise_if_cancelled()
    process = await _spawn([binary, *args], cwd)
    loop = asyncio.get_running_loop()
    transports: list[asyncio.BaseTransport] = []
    timed_out = ended = False
    remove = token.on_cancel(lambda reason: _kill(process))
    try:
        stdout = await _reader(loop, process.stdout, transports)
        stderr_stream = await _reader(loop, process.stderr, transports)
        stderr = asyncio.create_task(_read_capped(stderr_stream), name="nexus-rg-stderr")
        try:
            try:
                async with asyncio.timeout(seconds):
                    ended = await _read_lines(stdout, on_line, json_lines)
            except TimeoutError:
                timed_out = True
            token.raise_if_cancelled()
        finally:
            if not ended:
                _kill(process)
            errors = await asyncio.shield(stderr)
    finally:
        remove()
        if not ended:
            _kill(process)
        # Reaped before returning, also when this task was cancelled: no zombie.
        await asyncio.shield(run_in_thread(process.wait))
        for transport in transports:
            transport.close()  # stops reading now; its own close of the pipe comes later
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    return process.returncode or 0, errors.decode("utf-8", "replace"), timed_out


async def _spawn(command: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``rg`` from a worker thread: forking and waiting for the exec to succeed
    took up to ~20 ms on a busy machine, a stall of the whole server on the loop."""
    def popen() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    spawning = asyncio.ensure_future(run_in_thread(popen))
    try:
        return await asyncio.shield(spawning)
    except OSError as exc:
        raise RgUnavailable(f"cannot run {command[0]}: {exc}") from exc
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # started all the same: stop it
            process = await spawning
            _kill(process)
            await run_in_thread(process.wait)
        raise


async def _reader(loop: asyncio.AbstractEventLoop, pipe: IO[bytes] | None,
                  transports: list[asyncio.BaseTransport]) -> asyncio.StreamReader:
    assert pipe is not None
    stream = asyncio.StreamReader(limit=_READ)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream), pipe)
    transports.append(transport)
    return stream


async def _read_lines(stream: asyncio.StreamReader, on_line: Any, json_lines: bool) -> bool:
    """Feed ``on_line`` until the output ends (True) or it says stop (False)."""
    pending = b""
    skipping = False  # inside a line longer than MAX_LINE_BYTES
    while chunk := await stream.read(_READ):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if skipping:
                skipping = False
                continue
            if not line:
                continue
            if not on_line(json.loads(line) if json_lines else line):
                return False
        if len(pending) > MAX_LINE_BYTES:
            pending, skipping = b"", True
    if pending and not skipping:
        on_line(json.loads(pending) if json_lines else pending)
    return True


async def _read_capped(stream: asyncio.StreamReader) -> bytes:
    """The stream to its end, keeping the first ``_READ`` bytes (rg never waits on it)."""
    kept = b""
    while chunk := await stream.read(_READ):
        kept = (kept + chunk)[:_READ]
    return kept


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
