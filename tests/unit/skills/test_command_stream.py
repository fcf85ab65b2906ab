"""run_command's streamed output: coalesced where it is read, in order, bytes kept."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from nexus_lsp.config import CommandSettings
from nexus_lsp.core.cancel import CancellationToken
from nexus_lsp.skills import DiskWorkspace, stream
from nexus_lsp.skills.command import CommandLimits, RunCommand, RunCommandArgs, _Output
from nexus_lsp.skills.stream import MAX_CHARS, OutputCoalescer


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "_clock", lambda: 100.0)  # every read within one window


def reads(total: int) -> list[bytes]:
    """A chatty command read in small pieces, a multi-byte character split across two."""
    data = ("ligne é\n" * (total // 9 + 1)).encode()[:total] + "😀 end\n".encode()
    cuts = list(range(0, len(data), 97)) + [len(data)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


@pytest.mark.usefixtures("frozen_clock")
async def test_many_reads_make_few_reports_first_at_once_bytes_and_order_kept() -> None:
    reports: list[str] = []
    output = _Output(1000, 1000, 1024 * 1024, reports.append)
    pieces = reads(200_000)
    output.feed(pieces[0])
    assert reports == [pieces[0].decode(errors="ignore")]  # not held (a split é waits)
    for piece in pieces[1:]:
        output.feed(piece)
    output.feed(b"", final=True)
    # ~2,000 reads: one report at once, then one per MAX_CHARS held within the window
    assert 2 <= len(reports) <= 2 + 200_000 // MAX_CHARS
    output.flush()
    assert "".join(reports) == b"".join(pieces).decode()
    assert all(len(r) < MAX_CHARS + 97 for r in reports)  # a cap per report


@pytest.mark.usefixtures("frozen_clock")
async def test_the_output_is_shown_up_to_the_bound_then_the_marker() -> None:
    reports: list[str] = []
    output = _Output(1000, 1000, 4096, reports.append)
    for _ in range(100):
        output.feed(b"x" * 100)
    output.flush()
    marker = "\n[output shown up to 4,096 bytes; the rest is cut here]\n"
    assert "".join(reports) == "x" * 4096 + marker
    assert len(reports) == 2  # the first read, then the rest and the marker together


@pytest.mark.parametrize("first", [b"", b"a" * 100, "é".encode() * 50],
                         ids=["nothing-before", "ascii-before", "accents-before"])
async def test_a_read_across_the_bound_is_shown_up_to_it(first: bytes) -> None:
    reports: list[str] = []
    output = _Output(1000, 1000, 4096, reports.append)
    output.feed(first)
    big = "ü".encode() * 20_000  # one read far over the bound, a character cut at it
    output.feed(big)
    output.flush()
    shown = "".join(reports).removesuffix(
        "\n[output shown up to 4,096 bytes; the rest is cut here]\n")
    assert shown == (first + big)[:4096].decode("utf-8", "ignore")
    assert 4096 - 1 <= len(shown.encode()) <= 4096


async def test_held_text_is_reported_when_the_window_ends() -> None:
    reports: list[str] = []
    coalescer = OutputCoalescer(reports.append)
    coalescer.add("first ")
    coalescer.add("second")  # within the window of the first: held
    assert reports == ["first "]
    for _ in range(200):  # the window's timer reports it without more input
        if len(reports) == 2:
            break
        await asyncio.sleep(0.005)
    assert reports == ["first ", "second"]
    coalescer.flush()  # nothing held: nothing reported
    assert reports == ["first ", "second"]


async def test_a_command_streams_everything_in_order_and_keeps_head_and_tail(
    tmp_path: Path,
) -> None:
    # Non-ASCII at both ends, 300,000 ASCII characters between, printed in many writes.
    script = ("printf 'début é\\n'; i=0; while [ $i -lt 60 ]; do head -c 5000 /dev/zero "
              "| tr '\\0' a; i=$((i+1)); done; printf '\\nfin ü\\n'")
    settings = CommandSettings(max_stored_output_bytes=1024 * 1024)
    skill = RunCommand(DiskWorkspace(tmp_path), lambda: CommandLimits(settings, "X_KEY", 2000))
    reports: list[str] = []
    result = await skill.invoke(RunCommandArgs(command=script), CancellationToken(), reports.append)
    printed = "début é\n" + "a" * 300_000 + "\nfin ü\n"
    assert "".join(reports) == printed
    assert result.details["exitCode"] == 0
    assert result.text.startswith(f"$ {script}\ndébut é\naaa")
    assert "\naaa" in result.text and "aaa\nfin ü\n[exit code 0;" in result.text
    cut = re.search(r"\[… ([\d,]+) characters cut; ([\d,]+) in all …\]", result.text)
    assert cut is not None and cut.group(2) == f"{len(printed):,}"
