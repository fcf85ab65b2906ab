"""What a ``run_command`` changed: a scan of the workspace's files before and after.

:func:`take_snapshot` runs before the command: it lists the workspace's files
(skipping ``.git``, ``.nexus`` and, in a git repository, git-ignored paths) with
their size and mtime; in a git repository it also writes a snapshot TREE of the
working files with git's own plumbing — a private index in ``.nexus/``
(``GIT_INDEX_FILE``), ``git add -A`` and ``git write-tree`` — so their pre-images
are git objects. Neither the repository's index nor the working tree is touched,
and the private index keeps git's stat cache, so only files changed since the
last snapshot are hashed again.

:func:`changes_since` runs after: files whose size or mtime moved, or that appeared
or vanished, are compared by content (git's blob id) with their pre-image, and
those really changed are returned with the pre-image's blob id (git) or none
(outside git: they are reported, never restored).

Snapshot trees are not referenced by any ref: ``git gc`` prunes them after its
expiry (two weeks by default), after which such a revert reports the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from nexus_lsp.skills.disk import SKIPPED_DIRS, is_protected_name

__all__ = ["CommandChange", "Snapshot", "changes_since", "git_blob_id", "read_blob",
           "take_snapshot"]

Stat = tuple[int, int]  # size, mtime_ns
INDEX_NAME = "checkpoint-index"
PATHSPEC = (".", ":(exclude).nexus")  # our own folder is never part of a snapshot
GIT_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class CommandChange:
    path: str  # workspace-relative, forward slashes
    existed: bool  # before the command
    exists: bool  # after it
    blob: str | None  # the pre-image's git blob (None: no git, or it did not exist)
    after_hash: str | None  # sha256 of the bytes after (None: deleted)


@dataclass
class Snapshot:
    root: Path
    files: dict[str, Stat]
    git: bool
    tree: str | None = None
    _blobs: dict[str, str] | None = field(default=None, repr=False)

    def blobs(self) -> dict[str, str]:
        """path → blob id of the snapshot tree (read once, when a change needs it)."""
        if self._blobs is None:
            self._blobs = _ls_tree(self.root, self.tree) if self.tree else {}
        return self._blobs


def take_snapshot(root: Path, nexus_dir: Path | None = None) -> Snapshot:
    """The state before a command (blocking: run it on a worker thread)."""
    git = _is_git_work_tree(root)
    if git:
        listed = _git_files(root)
        tree = _snapshot_tree(root, nexus_dir or root / ".nexus")
        return Snapshot(root, _stats(root, listed), True, tree)
    return Snapshot(root, _stats(root, _walk(root)), False)


def changes_since(before: Snapshot) -> list[CommandChange]:
    """The files the command changed, created or deleted (blocking)."""
    root = before.root
    listed = _git_files(root) if before.git else _walk(root)
    after = _stats(root, listed)
    changes: list[CommandChange] = []
    for rel in sorted(before.files.keys() | after.keys()):
        old, new = before.files.get(rel), after.get(rel)
        if old == new:
            continue
        data = _read(root / rel) if new is not None else None
        blob = before.blobs().get(rel) if before.git and old is not None else None
        if new is not None and blob is not None and data is not None and (
            git_blob_id(data) == blob
        ):
            continue  # touched, same content
        changes.append(CommandChange(
            rel, old is not None, new is not None, blob,
            hashlib.sha256(data).hexdigest() if data is not None else None))
    return changes


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def read_blob(root: Path, blob: str) -> bytes | None:
    """A pre-image's bytes from git (None once git pruned it)."""
    done = _git(root, "cat-file", "blob", blob, check=False)
    return done.stdout if done.returncode == 0 else None


# -- listing ------------------------------------------------------------------------


def _is_git_work_tree(root: Path) -> bool:
    if shutil.which("git") is None:
        return False
    done = _git(root, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        return False
    top = Path(os.fsdecode(done.stdout.strip()))
    return top.resolve() == root.resolve()


def _git_files(root: Path) -> list[str]:
    """Tracked and untracked, not ignored files (``git ls-files -co --exclude-standard``)."""
    out = _git(root, "ls-files", "-z", "-c", "-o", "--exclude-standard", "--", *PATHSPEC).stdout
    names = {os.fsdecode(n) for n in out.split(b"\0") if n}
    return [n for n in names if not any(is_protected_name(p) for p in n.split("/"))]


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


def _snapshot_tree(root: Path, nexus_dir: Path) -> str | None:
    """A tree object of the working files, through a private index in ``.nexus/``."""
    nexus_dir.mkdir(exist_ok=True)
    index = nexus_dir / INDEX_NAME
    if not index.exists():
        real = Path(os.fsdecode(_git(root, "rev-parse", "--git-path", "index").stdout.strip()))
        real = real if real.is_absolute() else root / real
        if real.exists():  # its stat cache: only files changed since are hashed
            shutil.copyfile(real, index)
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    add = _git(root, "add", "-A", "--", *PATHSPEC, env=env, check=False)
    if add.returncode != 0:
        return None
    tree = _git(root, "write-tree", env=env, check=False)
    return tree.stdout.decode().strip() if tree.returncode == 0 else None


def _ls_tree(root: Path, tree: str) -> dict[str, str]:
    out = _git(root, "ls-tree", "-r", "-z", "--full-tree", tree).stdout
    blobs: dict[str, str] = {}
    for item in out.split(b"\0"):
        if not item:
            continue
        meta, _, name = item.partition(b"\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == b"blob":
            blobs[os.fsdecode(name)] = parts[2].decode()
    return blobs


def _git(root: Path, *args: str, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[bytes]:
    # -c core.quotepath=off: names as they are; no pager, no prompt, never the user's hooks
    return subprocess.run(
        ["git", "-c", "core.quotepath=off", *args], cwd=root, env=env, capture_output=True,
        check=check, timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL,
    )
