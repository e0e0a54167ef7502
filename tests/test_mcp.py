"""Tools from MCP servers: a real stdio server (mcp-server-time) and a hostile one of our own
(tests/mcp_hostile.py), offered beside notebook functions and traced like them."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from IPython.core.error import UsageError

import ollama_nb
from ollama_nb import api, mcp
from ollama_nb.errors import McpError, ToolClash
from ollama_nb.settings import DEFAULT_MCP_TIMEOUT
from ollama_nb.standin import Turn

from .conftest import execute_notebook, interrupt_after, run_cell

HOSTILE = str(Path(__file__).with_name("mcp_hostile.py"))
CLOCK = "python -m mcp_server_time --local-timezone UTC"
# two zones without daylight saving time: the same answer every day of the year
TOKYO_TO_KOLKATA = {"source_timezone": "Asia/Tokyo", "time": "09:00", "target_timezone": "Asia/Kolkata"}


@pytest.fixture
def registry() -> Iterator[None]:
    """Servers added in this process are stopped and forgotten after the test."""
    yield
    for server in mcp.servers():
        mcp.remove(server.name)


def outputs(cell: nbformat.NotebookNode, kind: str) -> list[nbformat.NotebookNode]:
    return [o for o in cell.outputs if o["output_type"] == kind]


def stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o["text"] for o in outputs(cell, "stream") if o["name"] == "stdout")


# --- a real MCP server ---------------------------------------------------------------------------


def test_a_real_mcp_servers_tools_answer_a_models_call_traced_saved_and_reloaded(server, tmp_path):
    server.push(Turn(tool_calls=[{"name": "convert_time", "arguments": TOKYO_TO_KOLKATA}]),
                Turn(content="At 9:00 in Tokyo it is 5:30 in Kolkata."))  # fmt: skip
    nb = execute_notebook(
        ["import ollama_nb\nfrom ollama_nb import mcp\n"
         f"mcp.add('clock', {CLOCK!r})",
         "reply = ollama_nb.chat('It is 9:00 in Tokyo. What time is it in Kolkata?', model='llama3.2', "
         "tools=['mcp:clock'])",
         "print(reply.content)"],
        server,
    )  # fmt: skip
    assert stdout(nb.cells[2]).strip() == "At 9:00 in Tokyo it is 5:30 in Kolkata."

    first, second = server.state.chats()
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(offered) == {"get_current_time", "convert_time"}  # every tool of the server, by its own names
    convert = offered["convert_time"]
    assert convert["description"] == "Convert time between timezones"
    assert convert["parameters"]["required"] == ["source_timezone", "time", "target_timezone"]
    assert convert["parameters"]["properties"]["time"] == {
        "type": "string", "description": "Time to convert in 24-hour format (HH:MM)"}  # fmt: skip
    assert "title" not in json.dumps(convert["parameters"])  # tidied as notebook tools' schemas are

    answer = second["messages"][-1]
    assert answer["role"] == "tool" and answer["tool_name"] == "convert_time"
    result = json.loads(answer["content"])  # the server's own result
    assert result["time_difference"] == "-3.5h" and result["target"]["datetime"].endswith("T05:30:00+05:30")

    path = tmp_path / "clock.ipynb"
    nbformat.write(nb, path)
    (saved,) = [o for o in outputs(nbformat.read(path, as_version=4).cells[1], "display_data")
                if "text/html" in o["data"]]  # fmt: skip
    assert (
        'clock › convert_time(source_timezone="Asia/Tokyo", time="09:00", target_timezone="Asia/Kolkata") → {'
        in (saved["data"]["text/plain"])
    )
    assert "clock › convert_time(" in saved["data"]["text/html"] and "-3.5h" in saved["data"]["text/html"]
    (trace,) = ollama_nb.load_traces(path)
    (call,) = trace.rounds
    assert (call.server, call.name, call.status, call.arguments) == (
        "clock",
        "convert_time",
        "ok",
        TOKYO_TO_KOLKATA,
    )
    assert json.loads(call.result or "")["time_difference"] == "-3.5h"


def test_one_tool_of_a_server_beside_a_notebook_function(server, registry):
    def shout(text: str) -> str:
        """Say it louder."""
        return text.upper()

    server.push(Turn(tool_calls=[{"name": "shout", "arguments": {"text": "hi"}},
                                 {"name": "convert_time", "arguments": TOKYO_TO_KOLKATA}]),
                Turn(content="Done."))  # fmt: skip
    mcp.add("clock", CLOCK)
    reply = ollama_nb.chat("go", model="llama3.2", host=server.url, display="none",
                           tools=[shout, "mcp:clock/convert_time"])  # fmt: skip
    assert [t["function"]["name"] for t in server.state.chats()[0]["tools"]] == ["shout", "convert_time"]
    assert [(r.server, r.name, r.status) for r in reply.trace] == [(None, "shout", "ok"),
                                                                   ("clock", "convert_time", "ok")]  # fmt: skip
    assert reply.trace[0].result == "HI" and "-3.5h" in (reply.trace[1].result or "")


def test_a_server_over_streamable_http(server, registry):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = ("from mcp_server_time.server import create_server\n"
            f"create_server('UTC').run('streamable-http', host='127.0.0.1', port={port})")  # fmt: skip
    web = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):  # until it listens
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        server.push(
            Turn(tool_calls=[{"name": "convert_time", "arguments": TOKYO_TO_KOLKATA}]), Turn(content="5:30")
        )
        mcp.add("webclock", url=f"http://127.0.0.1:{port}/mcp")
        reply = ollama_nb.chat(
            "go", model="llama3.2", host=server.url, display="none", tools=["mcp:webclock"]
        )
    finally:
        web.terminate()
        web.wait(10)
    (call,) = reply.trace
    assert (call.server, call.status) == ("webclock", "ok") and json.loads(call.result or "")[
        "time_difference"
    ] == "-3.5h"


def test_two_tools_under_one_name_are_refused_before_anything_is_sent(server, registry):
    def convert_time(value: str) -> str:
        """My own converter."""
        return value

    mcp.add("clock", CLOCK)
    mcp.add("clock2", CLOCK)
    with pytest.raises(ToolClash) as caught:
        ollama_nb.chat("go", model="llama3.2", host=server.url, display="none",
                       tools=["mcp:clock", convert_time])  # fmt: skip
    assert str(caught.value) == (
        "Two tools are named 'convert_time': a tool of the MCP server clock and the notebook function "
        "test_two_tools_under_one_name_are_refused_before_anything_is_sent.<locals>.convert_time. "
        "Offer only one: name the other tools of clock one by one (mcp:clock/TOOL), "
        "or rename the function with @tool(name=...)."
    )
    with pytest.raises(ToolClash, match="a tool of the MCP server clock and a tool of the MCP server clock2"):
        ollama_nb.chat("go", model="llama3.2", host=server.url, display="none",
                       tools=["mcp:clock", "mcp:clock2/get_current_time"])  # fmt: skip
    assert server.state.chats() == []
    # the same tool named twice is no clash
    server.push(Turn(content="fine"))
    ollama_nb.chat("go", model="llama3.2", host=server.url, display="none",
                   tools=["mcp:clock", "mcp:clock/convert_time"])  # fmt: skip
    assert len(server.state.chats()[0]["tools"]) == 2


# --- results of every kind -----------------------------------------------------------------------


def test_images_links_resources_and_error_results_as_the_model_gets_them(server, registry):
    server.push(Turn(tool_calls=[{"name": "mixed", "arguments": {}}, {"name": "fail", "arguments": {}},
                                 {"name": "echo", "arguments": {"times": 2}},
                                 {"name": "echo", "arguments": '{"text": "hi", "times": "2"}'}]),
                Turn(content="Seen."))  # fmt: skip
    mcp.add("evil", [sys.executable, HOSTILE])
    reply = ollama_nb.chat("go", model="llama3.2", host=server.url, display="none", tools=["mcp:evil"])
    sent = [m["content"] for m in server.state.chats()[1]["messages"] if m["role"] == "tool"]
    assert sent[0] == ("Here is the chart.\n[image: image/png, 1,024 bytes]\n[chart.csv](file:///tmp/chart.csv)\n"
                       "the memo's text")  # fmt: skip
    assert sent[1] == "Error: fail: the database is locked"
    assert sent[2] == ("Error: invalid arguments for echo: missing required argument 'text'. "
                       "Nothing was run; call it again with corrected arguments.")  # fmt: skip
    assert sent[3] == "hi hi"  # JSON text read as the object it holds, the number as the schema wants
    assert [r.status for r in reply.trace] == ["ok", "error", "error", "ok"]
    schema = next(t for t in server.state.chats()[0]["tools"] if t["function"]["name"] == "echo")["function"]
    # draft-7 definitions inlined, the default said in words, titles and $schema gone
    assert schema["parameters"] == {"type": "object", "required": ["text"], "properties": {
        "text": {"type": "string", "description": "What to say"},
        "times": {"type": "integer", "default": 1, "description": "Default: 1."}}}  # fmt: skip


def test_an_unknown_server_or_tool_is_one_line_and_nothing_is_sent(server, registry):
    mcp.add("clock", CLOCK)
    with pytest.raises(McpError, match=r"^No MCP server named 'nope' \(registered: clock\)\. Add one with"):
        ollama_nb.chat("go", model="llama3.2", host=server.url, display="none", tools=["mcp:nope"])
    with pytest.raises(
        McpError,
        match=r"^The MCP server 'clock' has no tool 'sundial' \(its tools: get_current_time, convert_time\)\.$",
    ):
        ollama_nb.chat("go", model="llama3.2", host=server.url, display="none", tools=["mcp:clock/sundial"])
    assert server.state.chats() == []


def test_a_stray_line_before_any_call_is_noted_and_tolerated(server, registry):
    server.push(Turn(tool_calls=[{"name": "echo", "arguments": {"text": "hello"}}]), Turn(content="ok"))
    mcp.add("chatty", [sys.executable, HOSTILE, "--banner"])
    reply = ollama_nb.chat("go", model="llama3.2", host=server.url, display="none", tools=["mcp:chatty/echo"])
    assert (reply.trace[0].status, reply.trace[0].result) == ("ok", "hello")
    assert ("[ollama_nb] sent a line that is not JSON-RPC: 'Hostile server v1 starting...' (ignored: no call "
            "was waiting)") in mcp.log("chatty")  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("how", "said"),
    [({"command": "no-such-program-xyz --flag"},
      "the MCP server 'broken' cannot start: no program 'no-such-program-xyz' (no-such-program-xyz --flag)"),
     ({"command": "python -c 'import sys; print(\"bad config\", file=sys.stderr); sys.exit(2)'"},
      "the MCP server 'broken' exited before it answered initialize (its log ends: bad config); "
      "its log: ollama_nb.mcp.log('broken')"),
     ({"url": "http://127.0.0.1:{port}/mcp"},
      "the MCP server 'broken' could not start: ConnectError: All connection attempts failed; "
      "its log: ollama_nb.mcp.log('broken')")],
)  # fmt: skip
def test_a_server_that_cannot_start_is_one_line_and_nothing_is_sent(server, registry, how, said):
    if "url" in how:
        how = {"url": how["url"].format(port=_closed_port())}
    mcp.add("broken", **how)
    with pytest.raises(McpError) as caught:
        ollama_nb.chat("go", model="llama3.2", host=server.url, display="none", tools=["mcp:broken"])
    assert str(caught.value) == said
    assert server.state.chats() == []
    assert mcp.servers()[0].state == "failed"


def test_without_the_sdk_one_line_says_how_to_install_it():
    code = ("import sys; sys.modules['mcp'] = None\nfrom ollama_nb import mcp\n"
            "try:\n    mcp.add('clock', 'python -m mcp_server_time')\nexcept mcp.McpError as exc:\n    print(exc)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})  # fmt: skip
    assert done.stdout == "MCP tool servers need the mcp package: pip install 'ollama_nb[mcp]'\n"


# --- a hostile server in a real kernel -------------------------------------------------------------


def test_a_hostile_server_costs_one_line_per_failure_and_the_kernel_lives_on(server, tmp_path):
    pidfile = tmp_path / "evil.pid"
    setup = (
        "import sys, ollama_nb\nfrom ollama_nb import mcp\nreplies = []\n"
        f"mcp.add('evil', [sys.executable, {HOSTILE!r}, '--linger', '--pidfile', {str(pidfile)!r}])\n"
        f"mcp.add('hang', [sys.executable, {HOSTILE!r}], timeout=2)\n"
        f"mcp.add('mute', [sys.executable, {HOSTILE!r}, '--never-initialize'], timeout=2)\n"
        "def ask(tool):\n"
        "    replies.append(ollama_nb.chat('go', model='llama3.2', tools=[tool], display='plain'))"
    )
    cells = {"crash": "ask('mcp:evil/crash')", "huge": "ask('mcp:evil/huge')",
             "garbage": "ask('mcp:evil/garbage')", "shape": "ask('mcp:evil/wrong_shape')",
             "hang": "ask('mcp:hang/slow')", "slow": "ask('mcp:evil/slow')", "mute": "ask('mcp:mute')",
             "after": "ask('mcp:evil/echo')",
             "check": "print([r.content for r in replies]); print([r.trace[0].status for r in replies])\n"
                 "for r in replies:\n    print(r.trace[0].error)\n"
                 "print('told' if 'slow: cancelled request' in mcp.log('evil') else 'not told')"}  # fmt: skip
    tools = {"crash": "crash", "huge": "huge", "garbage": "garbage", "shape": "wrong_shape", "hang": "slow"}
    for name, tool in tools.items():
        server.push(Turn(tool_calls=[{"name": tool, "arguments": {}}]), Turn(content=f"after {name}"))
    server.push(Turn(tool_calls=[{"name": "slow", "arguments": {}}]))  # interrupted: no second turn
    server.push(
        Turn(tool_calls=[{"name": "echo", "arguments": {"text": "still here"}}]), Turn(content="after all")
    )
    nb = execute_notebook([setup, *cells.values()], server, allow_errors=True, timeout=60,
                          timeout_func=interrupt_after(4, "mcp:evil/slow"), interrupt_on_timeout=True)  # fmt: skip
    out = dict(zip(cells, nb.cells[1:], strict=True))

    def failure(name: str) -> str:
        assert outputs(out[name], "error") == []
        (line,) = [line for line in stdout(out[name]).splitlines() if "✗" in line]  # one line
        assert f"after {name}" in stdout(out[name])  # the model got the error and answered
        return line

    assert failure("crash").startswith("  ✗ evil › crash() → the MCP server 'evil' closed the connection")
    assert failure("garbage").startswith("  ✗ evil › garbage() → the MCP server 'evil' sent a line that is")
    assert failure("shape").startswith("  ✗ evil › wrong_shape() → the MCP server 'evil' answered wrong_sha")
    assert failure("hang").startswith("  ✗ hang › slow() → the MCP server 'hang' did not answer slow with")
    assert "✓ evil › huge() → xxx" in stdout(out["huge"]) and outputs(out["huge"], "error") == []
    (interrupted,) = outputs(out["slow"], "error")
    assert interrupted["ename"] == "Interrupted"
    (refused,) = outputs(out["mute"], "error")
    assert refused["ename"] == "McpError" and len(refused["traceback"]) == 1
    assert refused["evalue"] == ("the MCP server 'mute' did not answer initialize within 2 s (its log ends: "
                                 "initialize: not answering); its log: ollama_nb.mcp.log('mute')")  # fmt: skip
    assert '✓ evil › echo(text="still here") → still here' in stdout(out["after"])
    # nothing else lost: every answer kept, in order
    assert stdout(out["check"]).splitlines() == [
        "['after crash', 'after huge', 'after garbage', 'after shape', 'after hang', 'after all']",
        "['error', 'ok', 'error', 'error', 'error', 'ok']",
        # the trace keeps each failure in full
        "the MCP server 'evil' closed the connection during crash (it crashed or exited); it starts again on "
        "the next call (its log ends: crash: exiting in the middle of a call); its log: ollama_nb.mcp.log('evil')",
        "None",
        "the MCP server 'evil' sent a line that is not JSON-RPC: 'this is not JSON-RPC {' during garbage; "
        "it starts again on the next call; its log: ollama_nb.mcp.log('evil')",
        "the MCP server 'evil' answered wrong_shape with something that is not a tool result (content: "
        "Input should be a valid list); its log: ollama_nb.mcp.log('evil')",
        "the MCP server 'hang' did not answer slow within 2 s; the call was cancelled; its log: "
        "ollama_nb.mcp.log('hang')",
        "None",
        "told",  # the interrupted call was cancelled on the server's side too
    ]

    sent = [c["messages"][-1]["content"] for c in server.state.chats() if c["messages"][-1]["role"] == "tool"]
    huge = next(text for text in sent if text.startswith("xxx"))
    assert huge.endswith("[truncated: 10,485,760 characters in all, the first 20,000 shown]")
    assert len(huge) < 20_100
    assert len(server.state.chats()) == 13  # the refused cell sent nothing

    # the kernel has shut down: the server that ignores the end of its input was stopped too
    pid = int(pidfile.read_text())
    for _ in range(100):
        if not _alive(pid):
            break
        time.sleep(0.1)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


# --- the magic, the chat box -----------------------------------------------------------------------


def test_the_magic_adds_lists_offers_shows_and_removes_a_server(ip, server, registry, capsys):
    run_cell(ip, f"%ollama mcp add clock -- {CLOCK}")
    assert capsys.readouterr().out == (
        f"Added the MCP server clock ({CLOCK}): it starts on first use; "
        "offer its tools with --tools mcp:clock or mcp:clock/TOOL\n"
    )
    run_cell(ip, "%ollama mcp list")
    assert capsys.readouterr().out == f"clock · not started · {CLOCK}\n"  # added, not started

    run_cell(ip, "def add_two_numbers(a: int, b: int) -> int:\n    'Add two numbers.'\n    return a + b")
    server.push(Turn(tool_calls=[{"name": "convert_time", "arguments": TOKYO_TO_KOLKATA},
                                 {"name": "add_two_numbers", "arguments": {"a": 3, "b": 1}}]),
                Turn(content="5:30, and 4."))  # fmt: skip
    run_cell(ip, "%%ollama -m llama3.2 --tools add_two_numbers,mcp:clock/convert_time\nTime and sum?")
    shown = capsys.readouterr().out
    assert (
        '✓ clock › convert_time(source_timezone="Asia/Tokyo", time="09:00", target_timezone="Asia/Kolkata") → {'
        in shown
    )
    assert "✓ add_two_numbers(a=3, b=1) → 4" in shown
    assert [(r.server, r.status) for r in ip.user_ns["_ollama"].trace] == [("clock", "ok"), (None, "ok")]

    run_cell(ip, "%ollama schema mcp:clock/convert_time")
    assert json.loads(capsys.readouterr().out) == server.state.chats()[0]["tools"][1]
    run_cell(ip, "%ollama mcp list")
    assert capsys.readouterr().out == (
        f"clock · running · {CLOCK}\n  get_current_time: Get current time in a specific timezone\n"
        "  convert_time: Convert time between timezones\n"
    )
    run_cell(ip, "%ollama mcp log clock")
    assert f"[ollama_nb] starting: {sys.executable} -m mcp_server_time" in capsys.readouterr().out
    run_cell(ip, "%ollama mcp remove clock")
    assert capsys.readouterr().out == "Removed the MCP server clock (stopped if it was running)\n"
    result = run_cell(ip, "%%ollama -m llama3.2 --tools mcp:clock\nTime?")
    assert str(result.error_in_exec).startswith("No MCP server named 'clock' (registered: none yet).")


def test_a_line_prompt_that_starts_with_mcp_is_told_how_to_ask(ip, server):
    result = run_cell(ip, "%ollama mcp is a protocol for tools")
    assert isinstance(result.error_in_exec, UsageError)
    assert str(result.error_in_exec).endswith(
        """To ask the model something that starts with 'mcp', quote it: %ollama -m MODEL "mcp is a protocol for tools\""""
    )
    assert server.state.chats() == []


def test_config_mcp_timeout_bounds_each_call(ip, server, registry, capsys):
    mcp.add("hang", [sys.executable, HOSTILE])
    mcp.tools("hang")  # started within the default minute
    server.push(Turn(tool_calls=[{"name": "slow", "arguments": {}}]), Turn(content="gave up"))
    try:
        run_cell(ip, "%ollama config mcp_timeout=1")
        run_cell(ip, "%%ollama -m llama3.2 --tools mcp:hang/slow\nslow")
    finally:
        api.defaults.mcp_timeout = DEFAULT_MCP_TIMEOUT
    (call,) = ip.user_ns["_ollama"].trace
    assert call.error == ("the MCP server 'hang' did not answer slow within 1 s; the call was cancelled; "
                          "its log: ollama_nb.mcp.log('hang')")  # fmt: skip


@pytest.mark.parametrize(("answer", "status"), [("y\n", "ok"), ("n\n", "refused")])
def test_confirm_asks_before_an_mcp_call(ip, server, registry, monkeypatch, capsys, answer, status):
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    mcp.add("evil", [sys.executable, HOSTILE])
    server.push(Turn(tool_calls=[{"name": "echo", "arguments": {"text": "hi"}}]), Turn(content="ok"))
    run_cell(ip, "%%ollama -m llama3.2 --tools mcp:evil/echo --confirm\nsay hi")
    assert 'Run echo({"text": "hi"})? [y/N]' in capsys.readouterr().out
    (call,) = ip.user_ns["_ollama"].trace
    assert (call.server, call.status) == ("evil", status)
    assert (call.result == "hi") is (status == "ok")


def test_the_chat_box_offers_an_mcp_servers_tools(server, registry):
    from ollama_nb import ChatWidget

    mcp.add("clock", CLOCK)
    server.push(
        Turn(tool_calls=[{"name": "convert_time", "arguments": TOKYO_TO_KOLKATA}]), Turn(content="5:30.")
    )
    chat = ChatWidget(model="llama3.2", tools=["mcp:clock"], host=server.url)
    reply = chat.ask("It is 9:00 in Tokyo. And in Kolkata?", wait=True).result(60)
    assert reply is not None and reply.content == "5:30."
    assert (reply.trace[0].server, reply.trace[0].status) == ("clock", "ok")
    assert [t["function"]["name"] for t in server.state.chats()[0]["tools"]] == [
        "get_current_time",
        "convert_time",
    ]


def test_the_tutorials_recording_of_the_clock_still_matches_on_another_day():
    from ollama_nb.standin import Cassette

    cassette = Cassette.load(Path(__file__).parents[1] / "notebooks" / "cassettes" / "demo.json")
    (recorded,) = [e for e in cassette.exchanges if (e.request or {}).get("messages", [{}])[-1].get("role") == "tool"
                   and "Asia/Kolkata" in e.request["messages"][-1]["content"]]  # fmt: skip
    body = json.loads(json.dumps(recorded.request))
    result = json.loads(body["messages"][-1]["content"])
    for side, day in (("source", "2031-02-03T09:00:00+09:00"), ("target", "2031-02-03T05:30:00+05:30")):
        result[side].update(datetime=day, day_of_week="Monday")
    body["messages"][-1]["content"] = json.dumps(result, indent=2)
    assert cassette.match("POST", recorded.path, body) is recorded  # the day the clock ran is not the point
    result["time_difference"] = "-4.5h"
    body["messages"][-1]["content"] = json.dumps(result, indent=2)
    assert cassette.match("POST", recorded.path, body) is None  # anything else must be the same
