"""``python -m nexus_lsp.testing``: one ``listening`` line, serves, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import httpx
import pytest

from nexus_lsp.testing.__main__ import main


async def test_cli_prints_one_line_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"responses": [{"text": "from the cli"}]}), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_lsp.testing", "--script", str(script), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert line.startswith("listening http://127.0.0.1:") and line.endswith("\n")
        url = line.split()[1]
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{url}/v1/chat/completions", json={
                "model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert response.json()["choices"][0]["message"]["content"] == "from the cli"
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 30)
        assert rest == b""  # exactly one line on stdout
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_cli_reports_a_bad_script_with_status_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "bad.json"
    script.write_text(json.dumps({"responses": [{"chunkSize": "big"}]}), encoding="utf-8")
    assert main(["--script", str(script)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "responses[0].chunkSize" in captured.err
    assert main(["--script", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
