"""How an ``ask`` turn ended, for the terminal: exit statuses and the closing summary.

Shared by ``nexus-lsp ask`` (``cli.py``) and ``nexus-lsp demo`` (``demo.py``). Only the
standard library at top level: ``cli.py`` imports it on the path that serves editors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nexus_lsp.client.ask import AskOutcome
    from nexus_lsp.client.render import TurnRenderer

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_MAX_ITERATIONS",
    "EXIT_OK",
    "EXIT_TURN_ERROR",
    "EXIT_USAGE",
    "exit_code",
    "report_outcome",
]

EXIT_OK = 0  # the turn ended normally (stopReason endTurn)
EXIT_TURN_ERROR = 1  # the turn ended with stopReason "error" (provider failure, ...)
EXIT_USAGE = 2  # bad command line or settings (argparse uses 2 as well)
EXIT_MAX_ITERATIONS = 3  # stopReason "maxIterations"
EXIT_FAILED = 4  # no turn result: the server failed or refused the request
EXIT_CANCELLED = 130  # cancelled with Ctrl-C (128 + SIGINT, as shells report it)

_STATUS_EXIT = {
    "endTurn": EXIT_OK,
    "error": EXIT_TURN_ERROR,
    "maxIterations": EXIT_MAX_ITERATIONS,
    "failed": EXIT_FAILED,
    "cancelled": EXIT_CANCELLED,
}


def exit_code(outcome: AskOutcome) -> int:
    return _STATUS_EXIT.get(outcome.status, EXIT_FAILED)


def report_outcome(outcome: AskOutcome, workspace: Path, renderer: TurnRenderer) -> None:
    """Print how the turn ended, the session id and where its transcript is."""
    from nexus_lsp.client.ask import transcript_path
    from nexus_lsp.client.render import describe_outcome

    transcript = None
    if outcome.session_id:
        transcript = _display_path(transcript_path(workspace, outcome.session_id))
    describe_outcome(
        renderer,
        status=outcome.status,
        session_id=outcome.session_id,
        message=outcome.message,
        error_code=outcome.error_code,
        transcript=transcript,
    )


def _display_path(path: Path) -> str:
    """Relative to the current directory when inside it (short, clickable)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
