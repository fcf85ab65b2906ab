"""The ``.nexus`` folder on disk: creating it private, and undoing a failed open.

``.nexus/`` (0700) holds ``.gitignore`` (``*``, so logs are never committed by
accident), ``nexus.db`` (0600, created here empty so SQLite's WAL and shm files
inherit its mode) and ``sessions/<id>/`` (0700). :class:`FolderSetup` remembers
what it created, so that a store which then fails to open leaves nothing behind
(and never removes anything it did not create).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from nexus_lsp.errors import StoreError
from nexus_lsp.wire import DB_FILE, NEXUS_DIR, SESSIONS_DIR

__all__ = ["DIR_MODE", "FILE_MODE", "FolderSetup", "make_private_dir"]

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
GITIGNORE = "*\n"
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def make_private_dir(path: Path) -> bool:
    """Create ``path`` (0700) if missing; True when it was created now."""
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise StoreError(f"{path} exists but is not a folder; move it away") from None
        return False
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from exc
    os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    return True


class FolderSetup:
    """Prepare ``<root>/.nexus`` for a store; :meth:`undo` removes what was created."""

    def __init__(self, workspace_root: Path) -> None:
        self.root = Path(workspace_root)
        self.nexus_dir = self.root / NEXUS_DIR
        self.db_path = self.nexus_dir / DB_FILE
        self.sessions_dir = self.nexus_dir / SESSIONS_DIR
        self._created_dir = False
        self._created_gitignore = False
        self._created_db = False

    def prepare(self) -> None:
        if not self.root.is_dir():
            raise StoreError(f"the workspace folder {self.root} does not exist")
        self._created_dir = make_private_dir(self.nexus_dir)
        gitignore = self.nexus_dir / ".gitignore"
        try:
            fd = os.open(gitignore, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         FILE_MODE)
        except FileExistsError:
            pass  # the user's own file: left alone
        except OSError as exc:
            raise StoreError(f"cannot write {gitignore}: {exc.strerror or exc}") from exc
        else:
            self._created_gitignore = True
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(GITIGNORE)
        try:
            fd = os.open(self.db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         FILE_MODE)
        except FileExistsError:
            return
        except OSError as exc:
            raise StoreError(f"cannot create {self.db_path}: {exc.strerror or exc}") from exc
        os.close(fd)
        self._created_db = True

    def undo(self) -> None:
        """Remove what :meth:`prepare` created (after a failed open): the folder as found."""
        try:
            if self._created_dir:
                shutil.rmtree(self.nexus_dir)
                return
            created = [str(self.nexus_dir / ".gitignore")] if self._created_gitignore else []
            if self._created_db:
                created += [f"{self.db_path}{suffix}" for suffix in ("", *SQLITE_SIDE_FILES)]
            for path in created:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        except OSError:
            log.warning("could not remove %s after a failed open", self.nexus_dir, exc_info=True)
