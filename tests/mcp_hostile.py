"""A stdio MCP server that misbehaves on request, written by hand (no SDK) so that it can.

Run as ``python tests/mcp_hostile.py [--never-initialize] [--banner] [--linger] [--pidfile PATH]``.
Its tools: ``echo`` (answers), ``slow`` (30 s; says on stderr when it is cancelled), ``crash``
(exits mid-call), ``huge`` (a 10 MB answer), ``garbage`` (a line that is not JSON-RPC),
``wrong_shape`` (JSON-RPC whose result is not a tool result), ``mixed`` (an image, a resource
link, an embedded resource and text), ``fail`` (an ``isError`` result).
``--banner`` prints a line to stdout before anything else; ``--linger`` ignores the end of stdin (only a signal stops it), to show who stops servers.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time

NEVER_INITIALIZE = "--never-initialize" in sys.argv
LINGER = "--linger" in sys.argv
BANNER = "--banner" in sys.argv
HUGE_CHARS = 10 * 1024 * 1024
_out = threading.Lock()
_cancelled: set[object] = set()

TOOLS = [
    {"name": "echo", "description": "Say the text back.",
     "inputSchema": {"type": "object", "title": "echoArguments", "$schema": "http://json-schema.org/draft-07/schema#",
                     "properties": {"text": {"type": "string", "title": "Text", "description": "What to say"},
                                    "times": {"$ref": "#/definitions/Times"}},
                     "required": ["text"], "definitions": {"Times": {"type": "integer", "default": 1}}}},
    *({"name": name, "description": f"The {name} tool.", "inputSchema": {"type": "object", "properties": {}}}
      for name in ("slow", "crash", "huge", "garbage", "wrong_shape", "mixed", "fail")),
]  # fmt: skip


def send(message: dict[str, object]) -> None:
    with _out:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def result(request_id: object, value: dict[str, object]) -> None:
    send({"jsonrpc": "2.0", "id": request_id, "result": value})


def text(request_id: object, words: str, error: bool = False) -> None:
    result(request_id, {"content": [{"type": "text", "text": words}], "isError": error})


def call(request_id: object, name: str, arguments: dict[str, object]) -> None:
    if name == "echo":
        text(request_id, " ".join([str(arguments.get("text", ""))] * int(arguments.get("times", 1))))  # type: ignore[call-overload]
    elif name == "slow":
        for _ in range(300):
            if request_id in _cancelled:
                print(f"slow: cancelled request {request_id}", file=sys.stderr, flush=True)
                return
            time.sleep(0.1)
        text(request_id, "slow: done")
    elif name == "crash":
        print("crash: exiting in the middle of a call", file=sys.stderr, flush=True)
        os._exit(3)
    elif name == "huge":
        text(request_id, "x" * HUGE_CHARS)
    elif name == "garbage":
        with _out:
            sys.stdout.write("this is not JSON-RPC {\n")
            sys.stdout.flush()
    elif name == "wrong_shape":
        result(request_id, {"content": "not a list of blocks", "isError": "perhaps"})
    elif name == "mixed":
        png = base64.b64encode(b"\x89PNG" + b"\0" * 1020).decode()
        result(request_id, {"content": [
            {"type": "text", "text": "Here is the chart."},
            {"type": "image", "data": png, "mimeType": "image/png"},
            {"type": "resource_link", "uri": "file:///tmp/chart.csv", "name": "chart.csv"},
            {"type": "resource", "resource": {"uri": "memo://1", "text": "the memo's text"}},
        ]})  # fmt: skip
    elif name == "fail":
        text(request_id, "fail: the database is locked", error=True)
    else:
        send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": -32602, "message": f"Unknown tool: {name}"},
            }
        )


def main() -> None:
    if "--pidfile" in sys.argv:
        with open(sys.argv[sys.argv.index("--pidfile") + 1], "w") as file:
            file.write(str(os.getpid()))
    print(f"hostile MCP server {os.getpid()} ready", file=sys.stderr, flush=True)
    if BANNER:  # as careless servers do: a print to stdout, where only JSON-RPC belongs
        print("Hostile server v1 starting...", flush=True)
    for line in sys.stdin:
        message = json.loads(line)
        method, request_id = message.get("method"), message.get("id")
        if method == "initialize":
            if NEVER_INITIALIZE:
                print("initialize: not answering", file=sys.stderr, flush=True)
                continue
            result(request_id, {"protocolVersion": message["params"]["protocolVersion"],
                                "capabilities": {"tools": {}}, "serverInfo": {"name": "hostile", "version": "1"}})  # fmt: skip
        elif method == "tools/list":
            result(request_id, {"tools": TOOLS})
        elif method == "tools/call":
            params = message["params"]
            threading.Thread(target=call, args=(request_id, params["name"], params.get("arguments") or {}),
                             daemon=True).start()  # fmt: skip
        elif method == "notifications/cancelled":
            _cancelled.add(message["params"]["requestId"])
        elif request_id is not None:
            result(request_id, {})
    if LINGER:
        print("stdin closed: lingering", file=sys.stderr, flush=True)
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
