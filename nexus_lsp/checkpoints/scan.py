"""What a ``run_command`` changed: the workspace's files before and after.

In a git work tree (``.git`` at the workspace root) everything is git's own
plumbing, on a private index in ``.nexus/`` (``GIT_INDEX_FILE``): before the
command ``git add -A`` brings it to the working files (tracked and untracked, not
ignored; ``.nexus`` excluded), which writes their blobs as git objects — the
snapshot of the pre-images. After the command, ``git diff-files`` and ``git
ls-files -o`` against that index name the files it changed, deleted or created,
with each pre-image's blob. Neither the repository's index nor the working tree
is touched; the private index keeps git's stat cache (racy entries re-hashed, as
``git status`` does), so only changed files are read.

Elsewhere a walk (skipping ``.git``, ``.nexus`` and the folders the file tools
skip) takes size and mtime of every file before and after; the files that
differ are reported, never restored (no pre-image is kept).

The pre-image blobs are not referenced by any ref: ``git gc`` prunes them after
its expiry (two weeks by default), after which such a revert reports the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from nexus_lsp.skills.disk import SKIPPED_DIRS, is_protected_name

__all__ = ["CommandChange", "Snapshot", "changes_since", "git_blob_id", "read_blob",
           "take_snapshot"]

Stat = tuple[int, int]  # size, mtime_ns
INDEX_NAME = "checkpoint-index"
PATHSPEC = (".", ":(exclude).nexus")  # our own folder is never part of a snapshot
GIT_TIMEOUT = 120.0
_INDEX_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class CommandChange:
    path: str  # workspace-relative, forward slashes
    existed: bool  # before the command
    exists: bool  # after it
    blob: str | None  # the pre-image's git blob (None: no git, or it did not exist)
    after_hash: str | None  # sha256 of the bytes after (None: deleted)


@dataclass(frozen=True)
class Snapshot:
    root: Path
    files: dict[str, Stat]  # outside git: size and mtime of every file
    git: bool  # in git: the private index holds the snapshot
    nexus_dir: Path


def take_snapshot(root: Path, nexus_dir: Path | None = None) -> Snapshot:
    """The state before a command (blocking: run it on a worker thread)."""
    nexus = nexus_dir or root / ".nexus"
    if _is_git_work_tree(root) and _snapshot_index(root, nexus):
        return Snapshot(root, {}, True, nexus)
    return Snapshot(root, _stats(root, _walk(root)), False, nexus)


def changes_since(before: Snapshot) -> list[CommandChange]:
    """The files the command changed, created or deleted (blocking)."""
    root = before.root
    if before.git:
        return _git_changes(root, before.nexus_dir)
    after_stats = _stats(root, _walk(root))
    changes: list[CommandChange] = []
    for rel in sorted(before.files.keys() | after_stats.keys()):
        old, new = before.files.get(rel), after_stats.get(rel)
        if old != new:
            changes.append(_change(root, rel, old is not None, new is not None, None))
    return changes


def _change(root: Path, rel: str, existed: bool, exists: bool, blob: str | None
            ) -> CommandChange:
    data = _read(root / rel) if exists else None
    after = hashlib.sha256(data).hexdigest() if data is not None else None
    return CommandChange(rel, existed, exists, blob, after)


def _git_changes(root: Path, nexus_dir: Path) -> list[CommandChange]:
    """The working files against the private index, which still holds the snapshot:
    ``git diff-files`` (changed or deleted; stat first, as ``git status``) and
    ``git ls-files -o`` (new, not ignored). Nothing is written."""
    env = _index_env(nexus_dir)
    with _INDEX_LOCK:
        raw = _git(root, "diff-files", "-z", "--raw", "--no-renames", "--", *PATHSPEC,
                   env=env).stdout
        new = _git(root, "ls-files", "-z", "-o", "--exclude-standard", "--", *PATHSPEC,
                   env=env).stdout
    changes: list[CommandChange] = []
    fields = raw.split(b"\0")
    for meta, name in zip(fields[0::2], fields[1::2], strict=False):
        parts = meta.decode().lstrip(":").split()
        if len(parts) != 5 or "160000" in parts[:2]:
            continue  # a submodule's commit: not a file of ours
        rel, blob, status = os.fsdecode(name), parts[2], parts[4]
        data = _read(root / rel) if status != "D" else None
        if data is not None and git_blob_id(data) == blob:
            continue  # touched (stat changed), same content
        after = hashlib.sha256(data).hexdigest() if data is not None else None
        changes.append(CommandChange(rel, True, data is not None, blob, after))
    for name in new.split(b"\0"):
        if name and not any(is_protected_name(p) for p in os.fsdecode(name).split("/")):
            changes.append(_change(root, os.fsdecode(name), False, True, None))
    return sorted(changes, key=lambda c: c.path)


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def read_blob(root: Path, blob: str) -> bytes | None:
    """A pre-image's bytes from git (None once git pruned it)."""
    done = _git(root, "cat-file", "blob", blob, check=False)
    return done.stdout if done.returncode == 0 else None


# -- listing ------------------------------------------------------------------------


def _is_git_work_tree(root: Path) -> bool:
    """``.git`` (a folder, or a worktree's file) at the root, and git installed. A
    workspace inside a bigger repository is scanned like one outside git."""
    return os.path.lexists(root / ".git") and shutil.which("git") is not None


def _walk(root: Path) -> list[str]:
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not is_protected_name(d)]
        base = os.path.relpath(folder, root)
        prefix = "" if base == "." else base.replace(os.sep, "/") + "/"
        found.extend(prefix + f for f in files)
    return found


def _stats(root: Path, names: list[str]) -> dict[str, Stat]:
    stats: dict[str, Stat] = {}
    for rel in names:
        try:
            info = os.lstat(root / rel)
        except OSError:
            continue  # listed, then gone (a deleted tracked file)
        if stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
            stats[rel] = (info.st_size, info.st_mtime_ns)
    return stats


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if not path.is_symlink() else os.fsencode(os.readlink(path))
    except OSError:
        return None


# -- git plumbing ---------------------------------------------------------------------


def _index_env(nexus_dir: Path) -> dict[str, str]:
    return {**os.environ, "GIT_INDEX_FILE": str(nexus_dir / INDEX_NAME)}


def _snapshot_index(root: Path, nexus_dir: Path) -> bool:
    """The private index brought to the working files: their blobs are then git
    objects (the pre-images), and the index names them."""
    with _INDEX_LOCK:  # one private index per workspace: one user of it at a time
        nexus_dir.mkdir(exist_ok=True)
        index = nexus_dir / INDEX_NAME
        if not index.exists():
            real = Path(os.fsdecode(
                _git(root, "rev-parse", "--git-path", "index").stdout.strip()))
            real = real if real.is_absolute() else root / real
            if real.exists():  # its stat cache: only files changed since are hashed
                shutil.copyfile(real, index)
        add = _git(root, "add", "-A", "--", *PATHSPEC, env=_index_env(nexus_dir), check=False)
        return add.returncode == 0


def _git(root: Path, *args: str, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[bytes]:
    # -c core.quotepath=off: names as they are; no pager, no prompt, never the user's hooks
    return subprocess.run(
        ["git", "-c", "core.quotepath=off", *args], cwd=root, env=env, capture_output=True,
        check=check, timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL,
    )
