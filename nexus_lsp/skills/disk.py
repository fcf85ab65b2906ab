"""DiskWorkspace: the :class:`~nexus_lsp.skills.workspace.Workspace` on the file system.

Serves headless use and tests, and is the base the LSP layer builds on (it adds
open buffers and ``workspace/applyEdit``). Every path is confined to the
workspace root: ``..`` leading out, absolute paths elsewhere and symlinks that
resolve outside are refused; writes under ``.git/`` or ``.nexus/`` are refused,
whatever their spelling on a case-insensitive file system (``.GIT``, ``.git.``).
Writes are atomic (temporary file in the same folder, fsync, rename) and UTF-8.

Only regular files are read: a named pipe, socket or device would block a worker
thread for ever (or read without end). File system calls run on daemon threads
(:func:`~nexus_lsp.core.threads.run_in_thread`), so one that hangs anyway never
holds up other tools or the exit. File names that are not valid UTF-8 reach the
model escaped (``caf\\xe9.txt``), and that escaped form resolves back to the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import unquote, urlparse

from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.core.text import escape_surrogates
from nexus_lsp.core.threads import run_in_thread
from nexus_lsp.errors import PathRefused, ToolError
from nexus_lsp.skills.workspace import (
    DeleteFile,
    DirEntry,
    FileChange,
    RenameFile,
    TextReplacement,
    WriteText,
)

__all__ = [
    "DiskWorkspace",
    "NotUtf8",
    "display_name",
    "is_protected_name",
    "minimal_replacement",
    "write_atomic",
]

PROTECTED_DIRS = frozenset({".git", ".nexus"})
SKIPPED_DIRS = frozenset({".git", ".nexus", "node_modules", ".venv", "__pycache__", ".mypy_cache"})
MAX_READ_BYTES = 16 * 1024 * 1024
MAX_LISTED_FILES = 20_000


class NotUtf8(ToolError):
    """The file is not valid UTF-8. ``lossy`` is its text with U+FFFD replacements,
    for tools that may show it with a note; tools that write must not use it."""

    def __init__(self, path: str, position: int, lossy: str) -> None:
        super().__init__(
            "failed", f"{path} is not valid UTF-8 (first bad byte at offset {position:,})"
        )
        self.lossy = lossy


class DiskWorkspace:
    """A workspace rooted at ``root`` on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {str(self.root)!r}>"

    def resolve(self, path: str, *, for_write: bool = False) -> Path:
        shown = path
        if path.startswith("file:"):
            path = unquote(urlparse(path).path)
        if not path or "\x00" in path:
            raise PathRefused(shown or "''", "not a valid path")
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        candidate = _unescaped(candidate)
        # realpath follows every symlink that exists, so a link leading out is caught.
        resolved = Path(os.path.realpath(candidate))
        try:
            relative = resolved.relative_to(self.root)
        except ValueError:
            raise PathRefused(shown, "outside the workspace folder") from None
        if for_write and any(is_protected_name(part) for part in relative.parts):
            raise PathRefused(shown, "writes under .git/ and .nexus/ are not allowed")
        return resolved

    def relative(self, path: Path) -> str:
        try:
            shown = path.relative_to(self.root).as_posix() or "."
        except ValueError:
            shown = path.as_posix()
        return display_name(shown)

    async def read_text(self, path: Path) -> str:
        return await run_in_thread(self._read_disk, path)

    def _read_disk(self, path: Path) -> str:
        rel = self.relative(path)
        data = _read_regular_file(path, rel)
        if b"\x00" in data[:8192]:
            raise ToolError("failed", f"{rel} looks like a binary file ({len(data):,} bytes)")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotUtf8(rel, exc.start, data.decode("utf-8", errors="replace")) from None

    async def list_directory(self, path: Path) -> list[DirEntry]:
        return await run_in_thread(self._list, path)

    def _list(self, path: Path) -> list[DirEntry]:
        if not path.is_dir():
            raise ToolError("failed", f"{self.relative(path)}: not a directory")
        with os.scandir(path) as entries:
            found = [DirEntry(display_name(e.name), e.is_dir()) for e in entries]
        return sorted(found, key=lambda e: (not e.is_dir, e.name.lower()))

    def files(self, path: Path) -> list[Path]:
        """Regular files under ``path``, depth first in name order; pipes, sockets,
        devices, skipped folders and symlinks leading out are left out."""
        if path.is_file():
            return [path]
        found: list[Path] = []
        folders = [path]
        while folders and len(found) < MAX_LISTED_FILES:
            folder = folders.pop()
            try:
                with os.scandir(folder) as scan:
                    entries = sorted(scan, key=lambda e: e.name)
            except OSError:
                continue  # vanished or unreadable: nothing to list
            subfolders: list[Path] = []
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not any(_same_name(entry.name, d) for d in SKIPPED_DIRS):
                            subfolders.append(Path(entry.path))
                    elif entry.is_file() and self._inside(entry):
                        found.append(Path(entry.path))
                except OSError:
                    continue
            folders.extend(reversed(subfolders))
        return found[:MAX_LISTED_FILES]

    def held_texts(self) -> dict[Path, str]:
        return {}  # no editor: the disk is all there is

    def text_for_search(self, path: Path, max_bytes: int) -> str | None:
        """The text of a file for a search, or None when a search skips it (not a
        regular file, over ``max_bytes``, binary, not UTF-8, vanished). Blocking."""
        try:
            if os.stat(path).st_size > max_bytes:
                return None
            return self._read_disk(path)
        except (ToolError, OSError):
            return None

    def _inside(self, entry: os.DirEntry[str]) -> bool:
        if not entry.is_symlink():
            return True
        return Path(os.path.realpath(entry.path)).is_relative_to(self.root)

    async def apply(self, change: FileChange, label: str, cancel_token: CancellationToken) -> None:
        cancel_token.raise_if_cancelled()
        await run_in_thread(self.apply_to_disk, change, cancel_token)

    async def apply_all(self, changes: Sequence[FileChange], label: str) -> None:
        """Apply several changes in order (a revert: protocol v2 §3)."""
        await run_in_thread(self.apply_all_to_disk, list(changes))

    def apply_all_to_disk(self, changes: list[FileChange]) -> None:
        for change in changes:
            self.apply_to_disk(change)

    def apply_to_disk(self, change: FileChange,
                      cancel_token: CancellationToken | None = None) -> None:
        """Carry out a change on disk (also the LSP layer's fallback).

        Runs in a worker thread that nobody can stop: the step that makes the change
        land (rename, unlink) is taken under ``cancel_token.commit()``, so a call
        already answered ``cancelled`` or ``timeout`` never lands afterwards.
        """
        commit = cancel_token.commit if cancel_token is not None else contextlib.nullcontext
        if isinstance(change, WriteText):
            write_atomic(change.path, change.content, commit)
        elif isinstance(change, DeleteFile):
            if not change.path.is_file():
                raise ToolError("failed", f"{self.relative(change.path)}: no such file")
            with commit():
                change.path.unlink()
        elif isinstance(change, RenameFile):
            if change.new_path.exists():
                raise ToolError("failed", f"{self.relative(change.new_path)} already exists")
            change.new_path.parent.mkdir(parents=True, exist_ok=True)
            with commit():
                os.rename(change.path, change.new_path)


def is_protected_name(name: str) -> bool:
    """Whether a path component names ``.git`` or ``.nexus`` on some file system.

    macOS and Windows compare names case-insensitively (and macOS after Unicode
    normalisation); Windows also drops trailing dots and spaces: ``.GIT``,
    ``.Git``, ``.git.`` and ``.git `` are all the real ``.git`` there.
    """
    return any(_same_name(name, protected) for protected in PROTECTED_DIRS)


def _same_name(name: str, other: str) -> bool:
    return _name_key(name) == _name_key(other)


def _name_key(name: str) -> str:
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
    return folded.rstrip(". ")


def display_name(name: str) -> str:
    """``name`` as text any JSON encoder and database accepts.

    A file name that is not valid UTF-8 arrives from the OS with its bad bytes as
    lone surrogates (``surrogateescape``); those cannot be encoded, and one in a tool
    result would make every later request of the session fail. Each such byte is
    shown as a visible ``\\xNN`` escape instead.
    """
    return escape_surrogates(name)


_ESCAPED_BYTE = re.compile(r"\\x([89a-fA-F][0-9a-fA-F])")


def _unescaped(candidate: Path) -> Path:
    """The file a :func:`display_name` escape stands for, when only that one exists."""
    text = str(candidate)
    if "\\x" not in text or os.path.lexists(candidate):
        return candidate
    raw = Path(_ESCAPED_BYTE.sub(lambda m: chr(0xDC00 + int(m[1], 16)), text))
    return raw if os.path.lexists(raw) else candidate


_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _not_regular(mode: int, rel: str) -> ToolError:
    if stat.S_ISDIR(mode):
        return ToolError("failed", f"{rel} is a directory")
    kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
    return ToolError("failed", f"{rel} is {kind}, not a regular file; only files can be read")


def _read_regular_file(path: Path, rel: str) -> bytes:
    """The bytes of ``path``, refusing anything but a regular file before opening it.

    Opening a FIFO for reading blocks until a writer comes, and reading a device may
    never end. The stat refuses those; the open is non-blocking and the fstat of
    what was opened closes the race with a file swapped in between.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ToolError("failed", f"{rel}: no such file") from None
    except OSError as exc:
        raise ToolError("failed", f"{rel}: {exc.strerror or type(exc).__name__}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(info.st_mode, rel)
    _check_size(info.st_size, rel)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ToolError("failed", f"{rel}: no such file") from None
    except OSError as exc:
        raise ToolError("failed", f"{rel}: {exc.strerror or type(exc).__name__}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(info.st_mode, rel)
        _check_size(info.st_size, rel)
        data = handle.read(MAX_READ_BYTES + 1)
    _check_size(len(data), rel)
    return data


def _check_size(size: int, rel: str) -> None:
    if size > MAX_READ_BYTES:
        raise ToolError(
            "failed", f"{rel} is too large to read ({size:,} bytes; limit {MAX_READ_BYTES:,})"
        )


def write_atomic(path: Path, text: str,
                 commit: Callable[[], AbstractContextManager[None]] | None = None) -> None:
    """Write ``text`` as UTF-8 so that readers see the old or the new file, never half.

    ``commit`` (e.g. ``CancellationToken.commit``) is held around the rename that
    makes the new text land; when it raises, the file is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".nexus-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        with (commit or contextlib.nullcontext)():
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def minimal_replacement(old: str, new: str) -> tuple[TextReplacement, ...]:
    """The one smallest replacement turning ``old`` into ``new`` (none when equal).

    Prefix and suffix are compared in blocks (C-speed slice equality), then
    character by character inside the first differing block: linear time with a
    small constant, even on multi-megabyte documents.
    """
    if old == new:
        return ()
    limit = min(len(old), len(new))
    prefix = _common_length(old, new, limit, from_end=False)
    suffix = _common_length(old, new, limit - prefix, from_end=True)
    return (TextReplacement(prefix, len(old) - suffix, new[prefix : len(new) - suffix]),)


_BLOCK = 4096


def _common_length(a: str, b: str, limit: int, *, from_end: bool) -> int:
    def block(s: str, start: int, stop: int) -> str:
        return s[len(s) - stop : len(s) - start] if from_end else s[start:stop]

    def char(s: str, i: int) -> str:
        return s[len(s) - 1 - i] if from_end else s[i]

    n = 0
    while n + _BLOCK <= limit and block(a, n, n + _BLOCK) == block(b, n, n + _BLOCK):
        n += _BLOCK
    while n < limit and char(a, n) == char(b, n):
        n += 1
    return n
