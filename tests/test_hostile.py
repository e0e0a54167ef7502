"""A hostile model, a careless tool and a careless prompt: the cell ends in one line, the kernel lives.

What the model sends as arguments, what a tool returns or raises, and what a ``{{name}}`` does
when it is turned into text are all outside this package's control; each case ends as a tool
error for the model or one short line for the user.
"""

from __future__ import annotations

import itertools
import time

import pytest
from IPython.core.error import UsageError

from ollama_nb.standin import Turn
from ollama_nb.tools import Outcome, Toolbox

from .conftest import execute_notebook, interrupt_after, run_cell


def counted(a: int) -> int:
    """Return a."""
    return a


def tool_message(server, index: int = -1) -> str:
    return server.state.chats()[index]["messages"][-1]["content"]


# --- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (None, "arguments must be a JSON object, got null"),
        ([3], "arguments must be a JSON object, got an array"),
        ("[3]", "arguments must be a JSON object, got an array"),
        ("3", "arguments must be a JSON object, got a number"),
        ("a=3", "arguments must be a JSON object, got text that is not JSON: 'a=3'"),
    ],
)
def test_arguments_that_are_not_an_object_go_back_to_the_model(arguments, problem):
    outcome = Toolbox([counted]).prepare("counted", arguments)
    assert isinstance(outcome, Outcome) and outcome.status == "error"
    assert problem in outcome.content and "Nothing was run" in outcome.content


def test_arguments_sent_as_json_text_of_an_object_are_used():
    box = Toolbox([counted])
    spec, values = box.prepare("counted", '{"a": "3"}')
    assert values == {"a": 3} and box.run(spec, values).content == "3"


def test_arguments_as_json_text_null_or_a_list_through_a_cell(ip, server):
    ip.user_ns["counted"] = counted
    server.push(Turn(tool_calls=[{"name": "counted", "arguments": '{"a": 3}'}]), Turn(content="Three."))
    server.push(Turn(tool_calls=[{"name": "counted", "arguments": None}]), Turn(content="Sorry."))
    assert run_cell(ip, "%%ollama -m llama3.2 --tools counted\none").success
    assert tool_message(server) == "3"
    assert run_cell(ip, "%%ollama -m llama3.2 --tools counted\ntwo").success
    assert "got null" in tool_message(server) and ip.user_ns["_ollama"].content == "Sorry."


# --- results and exits -------------------------------------------------------------------------


class Unprintable:
    def __repr__(self) -> str:
        raise ValueError("repr exploded")


def unprintable() -> Unprintable:
    """Return something that cannot be shown."""
    return Unprintable()


def exits(code: int) -> int:
    """Leave."""
    raise SystemExit(code)


def test_a_result_that_cannot_become_text_is_a_tool_error(ip, server):
    ip.user_ns["unprintable"] = unprintable
    server.push(Turn(tool_calls=[{"name": "unprintable", "arguments": {}}]), Turn(content="It broke."))
    result = run_cell(ip, "%%ollama -m llama3.2 --tools unprintable\ngo")
    assert result.success
    assert (
        tool_message(server) == "Error: the result could not be turned into text: ValueError: repr exploded"
    )
    reply = ip.user_ns["_ollama"]
    assert reply.content == "It broke." and reply.trace[0].status == "error"


def test_sys_exit_in_a_tool_is_a_tool_error_and_the_kernel_goes_on(server):
    server.push(Turn(tool_calls=[{"name": "exits", "arguments": {"code": 3}}]), Turn(content="It left."))
    nb = execute_notebook(
        ["%load_ext ollama_nb", "def exits(code: int) -> int:\n    'Leave.'\n    raise SystemExit(code)",
         "%%ollama -m llama3.2 --no-stream --tools exits\ngo", "print(_ollama.content, '|', _ollama.trace[0].error)"],
        server,
    )  # fmt: skip
    assert [o["output_type"] for o in nb.cells[2].outputs] == ["display_data"]  # no error output
    assert nb.cells[3].outputs[0]["text"].strip() == (
        "It left. | SystemExit: the tool called sys.exit(3); nothing exited, the kernel runs on"
    )
    assert tool_message(server).startswith("Error: SystemExit: the tool called sys.exit(3)")


def test_confirm_without_stdin_says_so_in_one_line_and_runs_nothing(server):
    server.push(Turn(tool_calls=[{"name": "counted", "arguments": {"a": 1}}]), Turn(content="never"))
    nb = execute_notebook(
        ["%load_ext ollama_nb", "ran = []\ndef counted(a: int) -> int:\n    'Count.'\n    ran.append(a)\n    return a",
         "%%ollama -m llama3.2 --tools counted --confirm\ncount", "print(ran)"],
        server, allow_errors=True,
    )  # fmt: skip
    (error,) = [o for o in nb.cells[2].outputs if o["output_type"] == "error"]
    assert len(error["traceback"]) == 1 and error["ename"] == "ConfirmUnavailable"
    assert "--confirm needs a front end that can answer input()" in error["evalue"]
    assert "counted was not run" in error["evalue"]
    assert nb.cells[3].outputs[0]["text"].strip() == "[]"
    assert len(server.state.chats()) == 1  # the loop stopped: nothing went back to the model


# --- endless and slow results ------------------------------------------------------------------


def test_an_iterator_is_read_only_as_far_as_the_limit():
    read = []

    def rows():
        for number in range(1_000_000):  # endless, as far as a result limit is concerned
            read.append(number)
            yield {"row": number}

    def endless() -> object:
        """Rows forever."""
        return rows()

    box = Toolbox([endless], max_result_chars=1_000)
    outcome = box.run(*box.prepare("endless", {}))
    assert outcome.status == "ok" and outcome.content.startswith('[{"row":0},{"row":1},')
    assert "[truncated: more than 1,000 characters, the first 1,000 shown]" in outcome.content
    assert len(read) < 1_000  # every item takes at least a character


def test_iterators_inside_a_result_and_builtin_endless_ones_stop_too():
    box = Toolbox(max_result_chars=500)
    assert box.format(itertools.count()).startswith("[0,1,2,3,")
    nested = box.format({"name": "counter", "values": itertools.count(), "more": map(str, itertools.count())})
    assert nested.startswith('{"name":"counter","values":[0,1,2,') and "[truncated: more than 500" in nested
    assert box.format(range(10**18)).startswith("[0,1,2")
    assert box.format([1, (2, 3)]) == "[1,[2,3]]"  # finite values are as before


def test_an_endless_iterator_in_a_kernel_ends_the_cell(server):
    server.push(Turn(tool_calls=[{"name": "numbers", "arguments": {}}]), Turn(content="Many."))
    nb = execute_notebook(
        ["%load_ext ollama_nb", "import itertools\ndef numbers() -> object:\n    'All of them.'\n    return itertools.count()",
         "%config\n%ollama config max_result_chars=200", "%%ollama -m llama3.2 --tools numbers\ncount",
         "print(_ollama.trace[0].result[-60:])"],
        server, timeout=30,
    )  # fmt: skip
    assert "[truncated: more than 200 characters, the first 200 shown]" in nb.cells[4].outputs[0]["text"]


def test_the_first_interrupt_cancels_an_async_tool(server):
    server.push(Turn(tool_calls=[{"name": "slow", "arguments": {}}]), Turn(content="never"))
    tool = (
        "import asyncio\nstate = []\n"
        "async def slow() -> str:\n    'Take long.'\n    state.append('started')\n"
        "    try:\n        await asyncio.sleep(30)\n    except asyncio.CancelledError:\n"
        "        state.append('cancelled')\n        raise\n    state.append('finished')\n    return 'done'"
    )
    started = time.monotonic()
    nb = execute_notebook(
        ["%load_ext ollama_nb", tool, "%%ollama -m llama3.2 --tools slow\ngo", "print(state)"],
        server, allow_errors=True, timeout_func=interrupt_after(4, "--tools slow"), interrupt_on_timeout=True,
    )  # fmt: skip
    assert time.monotonic() - started < 25  # not the 30 s the coroutine would take
    assert [o["ename"] for o in nb.cells[2].outputs if o["output_type"] == "error"] == ["Interrupted"]
    assert nb.cells[3].outputs[0]["text"].strip() == "['started', 'cancelled']"


# --- prompts -----------------------------------------------------------------------------------


class Hostile:
    @property
    def size(self) -> int:
        raise RuntimeError("not loaded yet")

    def __str__(self) -> str:
        raise ValueError("no text for you")


@pytest.mark.parametrize(
    ("placeholder", "message"),
    [("{{thing}}", "{{thing}}: ValueError: no text for you"),
     ("{{thing.size}}", "{{thing.size}}: RuntimeError: not loaded yet")],
)  # fmt: skip
def test_a_placeholder_that_raises_is_one_line_and_sends_nothing(ip, server, placeholder, message):
    ip.user_ns["thing"] = Hostile()
    result = run_cell(ip, f"%%ollama -m llama3.2\nLook at {placeholder}")
    assert isinstance(result.error_in_exec, UsageError) and str(result.error_in_exec) == message
    assert server.state.chats() == []


def test_the_last_error_holds_only_the_users_frames(ip, server):
    run_cell(ip, "def inner():\n    return 1 / 0\ninner()")
    run_cell(ip, "%%ollama -m llama3.2\nFix: {{error}}")
    prompt = server.state.chats()[-1]["messages"][-1]["content"]
    assert prompt.startswith('Fix: Traceback (most recent call last):\n  File "<ipython-input-')
    assert "interactiveshell.py" not in prompt and "IPython" not in prompt
    assert "in inner\n    return 1 / 0" in prompt and prompt.endswith("ZeroDivisionError: division by zero")
