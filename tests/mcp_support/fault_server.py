"""A small MCP server (the SDK's MCPServer, stdio) for the fault cases of the tests.

Behaviour is chosen by environment variables, so one file covers every case:

- ``FAULT_PID_FILE``: a file this process appends its pid to at start (orphan checks);
- ``FAULT_EXIT_AT_START=1``: write a line to stderr and exit 3 before speaking MCP;
- ``FAULT_CRASH_MARK``: a file; ``crash`` exits the process mid-call (os._exit);
- ``FAULT_SLOW_MARK``: a file ``slow`` writes ``started`` to, and ``cancelled`` to when
  the client's cancel interrupts it.

Tools: ``echo(text)``, ``add(a, b)`` (structured), ``fail(why)`` (an isError result),
``picture()`` (an image), ``slow(seconds)``, ``crash()``.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

if os.environ.get("FAULT_PID_FILE"):
    with open(os.environ["FAULT_PID_FILE"], "a") as pids:
        pids.write(f"{os.getpid()}\n")
print(f"fault server {os.getpid()} starting", file=sys.stderr, flush=True)
if os.environ.get("FAULT_EXIT_AT_START") == "1":
    print("fault server: cannot open the database (exit at start)", file=sys.stderr, flush=True)
    sys.exit(3)

server = MCPServer("fault")


@server.tool(description="Echo the text back.")
def echo(text: str) -> str:
    return f"echo: {text}"


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> dict[str, int]:
    return {"sum": a + b}


@server.tool(description="Always fails with the reason given.")
def fail(why: str) -> str:
    raise ToolError(f"it failed because {why}")


@server.tool(description="A one-pixel PNG.")
def picture() -> Image:
    return Image(data=PNG, format="png")


@server.tool(description="Sleep for a while (cancellable).")
async def slow(seconds: float) -> str:
    mark = os.environ.get("FAULT_SLOW_MARK")
    if mark:
        Path(mark).write_text("started")  # noqa: ASYNC240 (a test server: blocking is fine)
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        if mark:
            Path(mark).write_text("cancelled")  # noqa: ASYNC240
        raise
    return f"slept {seconds}"


@server.tool(description="Exit the server process in the middle of the call.")
def crash() -> str:
    print("fault server: crashing now", file=sys.stderr, flush=True)
    os._exit(7)


if __name__ == "__main__":
    server.run("stdio")
