"""The tool loop through the magic: the tutorial's seed flow, many calls, and every failure."""

from __future__ import annotations

import _thread
import asyncio
import concurrent.futures
import io
import json
import time
from typing import Literal

import pytest
from IPython.core.error import UsageError

import ollama_nb
from ollama_nb.standin import Turn
from ollama_nb.tools import Toolbox

from .conftest import run_cell


def add_two_numbers(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number
        b: The second number
    """
    return a + b


def get_current_weather(city: str, format: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather for a city.

    Args:
        city: The name of the city
        format: The unit of temperature
    """
    return f"11 degrees {format} in {city}"


@pytest.fixture
def tools_ip(ip):
    calls: list[tuple] = []

    def counted(a: int) -> int:
        """Record a call."""
        calls.append((a,))
        return a

    def boom(x: int) -> int:
        """Always fails."""
        raise ValueError("boom")

    ip.user_ns.update(add_two_numbers=add_two_numbers, get_current_weather=get_current_weather,
                      counted=counted, boom=boom, calls=calls, not_a_function=42)  # fmt: skip
    return ip


def call(name: str, **arguments) -> dict:
    return {"name": name, "arguments": arguments}


def test_seed_flow_three_plus_one(tools_ip, server, capsys):
    server.push(
        Turn(tool_calls=[call("add_two_numbers", a=3, b=1)], tool_calls_on_final=True),
        Turn(content="Three plus one is **4**."),
    )
    result = run_cell(tools_ip, "%%ollama -m llama3.2 --tools add_two_numbers\nWhat is three plus one?")
    assert result.success
    first, second = server.state.chats()
    assert [t["function"]["name"] for t in first["tools"]] == ["add_two_numbers"]  # only what was named
    assert first["tools"][0]["function"]["parameters"]["properties"]["a"] == {
        "description": "The first number",
        "type": "integer",
    }
    assert second["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"a": 3, "b": 1}
    call_id = second["messages"][1]["tool_calls"][0]["id"]
    assert call_id.startswith("call_")  # the server's id goes back with the result
    assert second["messages"][2] == {"role": "tool", "tool_name": "add_two_numbers", "content": "4",
                                     "tool_call_id": call_id}  # fmt: skip
    reply = tools_ip.user_ns["_ollama"]
    assert reply.content == "Three plus one is **4**."
    (trip,) = reply.trace
    assert (trip.name, trip.arguments, trip.result, trip.error, trip.status) == (
        "add_two_numbers",
        {"a": 3, "b": 1},
        "4",
        None,
        "ok",
    )
    assert trip.duration_s > 0
    assert [m["role"] for m in reply.messages] == ["user", "assistant", "tool", "assistant"]
    assert "✓ add_two_numbers(a=3, b=1) → 4 · " in capsys.readouterr().out


def test_two_calls_in_one_chunk_all_index_zero_run_in_order(tools_ip, server):
    server.push(
        Turn(content="Okay, I will get that for you.",
             tool_calls=[call("get_current_weather", city="Toronto", format="celsius"),
                         call("get_current_weather", city="Paris", format="fahrenheit")],
             index_zero=True),
        Turn(content="Toronto is cold; Paris too."),
    )  # fmt: skip
    run_cell(tools_ip, "%%ollama -m llama3.2 --tools get_current_weather\nWeather in Toronto and Paris?")
    asked = server.state.chats()[1]["messages"]
    ids = [c["id"] for c in asked[1]["tool_calls"]]
    assert len(set(ids)) == 2  # two calls of the same tool, each answered by its own id
    assert asked[2:] == [
        {"role": "tool", "tool_name": "get_current_weather", "content": "11 degrees celsius in Toronto",
         "tool_call_id": ids[0]},
        {"role": "tool", "tool_name": "get_current_weather", "content": "11 degrees fahrenheit in Paris",
         "tool_call_id": ids[1]},
    ]  # fmt: skip
    assert [r.id for r in tools_ip.user_ns["_ollama"].trace] == ids
    reply = tools_ip.user_ns["_ollama"]
    assert reply.content == "Okay, I will get that for you.\n\nToronto is cold; Paris too."
    assert [r.position for r in reply.trace] == [0, 1]
    schema = server.state.chats()[0]["tools"][0]["function"]["parameters"]["properties"]["format"]
    assert schema["enum"] == ["celsius", "fahrenheit"]


def _tool_message(server, turn: int = 1) -> str:
    return server.state.chats()[turn]["messages"][-1]["content"]


def test_invented_tool_gets_the_list_of_real_ones(tools_ip, server):
    server.push(Turn(tool_calls=[call("get_stock_price", symbol="X")]), Turn(content="Sorry."))
    run_cell(tools_ip, "%%ollama -m llama3.2 --tools add_two_numbers,counted\nprice?")
    assert (
        _tool_message(server)
        == "Error: there is no tool named 'get_stock_price'. Available tools: add_two_numbers, counted."
    )
    assert tools_ip.user_ns["_ollama"].trace[0].status == "error"


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({}, "missing required argument 'a'"),
        ({"a": 1, "b": 2}, "unexpected argument 'b'"),
        ({"a": "x"}, "'a': Input should be a valid integer"),
    ],
)
def test_bad_arguments_are_not_run_and_the_model_is_told(tools_ip, server, arguments, problem):
    server.push(Turn(tool_calls=[{"name": "counted", "arguments": arguments}]), Turn(content="Retrying."))
    run_cell(tools_ip, "%%ollama -m llama3.2 --tools counted\ncount")
    assert tools_ip.user_ns["calls"] == []
    assert problem in _tool_message(server) and "Nothing was run" in _tool_message(server)


def test_coerced_arguments_reach_the_function(tools_ip, server):
    server.push(Turn(tool_calls=[call("counted", a="7")]), Turn(content="Done."))
    run_cell(tools_ip, "%%ollama -m llama3.2 --tools counted\ncount")
    assert tools_ip.user_ns["calls"] == [(7,)]
    trip = tools_ip.user_ns["_ollama"].trace[0]
    assert trip.arguments == {"a": "7"} and trip.coerced == {"a": 7}


def test_a_raising_tool_reports_type_and_message_and_the_loop_goes_on(tools_ip, server):
    server.push(Turn(tool_calls=[call("boom", x=1)]), Turn(content="It failed."))
    result = run_cell(tools_ip, "%%ollama -m llama3.2 --tools boom\ntry")
    assert result.success and _tool_message(server) == "Error: ValueError: boom"
    assert tools_ip.user_ns["_ollama"].content == "It failed."
    assert tools_ip.user_ns["_ollama"].trace[0].error == "ValueError: boom"


def test_results_become_text():
    box = Toolbox(max_result_chars=50)
    assert box.format("as is") == "as is"
    assert box.format({"t": 11, "unit": "C"}) == '{"t":11,"unit":"C"}'
    assert box.format(object()).startswith("<object object at")
    long = box.format("x" * 120)
    assert long.startswith("x" * 50) and "[truncated: 120 characters in all, the first 50 shown]" in long


def test_max_rounds_then_one_last_answer_without_tools(tools_ip, server, capsys):
    server.push(*[Turn(tool_calls=[call("counted", a=i)]) for i in range(2)], Turn(content="Best I can do."))
    run_cell(tools_ip, "%%ollama -m llama3.2 --tools counted --max-rounds 2\nloop forever")
    chats = server.state.chats()
    assert len(chats) == 3 and "tools" in chats[1] and "tools" not in chats[2]
    reply = tools_ip.user_ns["_ollama"]
    assert reply.max_rounds_reached and reply.content == "Best I can do."
    assert "limit of 2 tool rounds" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "ran"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_confirm_asks_before_each_call(tools_ip, server, monkeypatch, capsys, answer, ran):
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    server.push(Turn(tool_calls=[call("counted", a=5)]), Turn(content="ok"))
    run_cell(tools_ip, "%%ollama -m llama3.2 --tools counted --confirm\ncount")
    assert 'Run counted({"a": 5})? [y/N]' in capsys.readouterr().out
    assert (tools_ip.user_ns["calls"] == [(5,)]) is ran
    trip = tools_ip.user_ns["_ollama"].trace[0]
    assert trip.status == ("ok" if ran else "refused")
    if not ran:
        assert _tool_message(server) == "The user declined to run this tool call."


def test_interrupt_during_a_tool_stops_the_loop_and_keeps_the_text(tools_ip, server):
    def slow(seconds: float) -> str:
        """Take a while."""
        _thread.interrupt_main()
        time.sleep(seconds)
        return "done"

    tools_ip.user_ns["slow"] = slow
    server.push(Turn(content="Starting.", tool_calls=[call("slow", seconds=2)]), Turn(content="never sent"))
    result = run_cell(tools_ip, "%%ollama -m llama3.2 --tools slow\nwork")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    reply = tools_ip.user_ns["_ollama"]
    assert reply.interrupted and reply.content == "Starting." and reply.trace[0].status == "interrupted"
    assert len(server.state.chats()) == 1  # the loop stopped


@pytest.mark.parametrize(
    ("names", "message"),
    [("nope", "tool 'nope' is not defined"), ("not_a_function", "is a int, not a function")],
)
def test_unknown_or_uncallable_names_send_nothing(tools_ip, server, names, message):
    result = run_cell(tools_ip, f"%%ollama -m llama3.2 --tools {names}\nhi")
    assert isinstance(result.error_in_exec, UsageError) and message in str(result.error_in_exec)
    assert server.state.chats() == []


def test_schema_subcommand_shows_what_the_model_sees(tools_ip, capsys):
    run_cell(tools_ip, "%ollama schema get_current_weather")
    shown = json.loads(capsys.readouterr().out)
    assert shown["function"]["parameters"]["required"] == ["city"]
    assert shown["function"]["parameters"]["properties"]["format"]["enum"] == ["celsius", "fahrenheit"]


async def fetch_price(symbol: str) -> float:
    """Fetch a price."""
    await asyncio.sleep(0)
    return 12.5


def test_async_tools_run_also_inside_a_running_event_loop():
    box = Toolbox([fetch_price])
    spec, values = box.prepare("fetch_price", {"symbol": "X"})
    assert box.run(spec, dict(values)).content == "12.5"

    async def in_kernel_like_loop():  # a cell in ipykernel runs while its event loop runs
        return box.run(spec, dict(values)).content

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a thread of its own: no loop there yet
        assert pool.submit(asyncio.run, in_kernel_like_loop()).result() == "12.5"


async def ask_upstream(symbol: str) -> float:
    """Ask a slow upstream service."""
    await asyncio.sleep(0)
    raise TimeoutError("the upstream service did not answer")


def test_an_async_tool_that_raises_timeout_error_is_an_error_for_the_model():
    # the waiting thread polls with timeouts of its own: the tool's TimeoutError is not one of them
    box = Toolbox([ask_upstream])
    spec, values = box.prepare("ask_upstream", {"symbol": "X"})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        outcome = pool.submit(box.run, spec, dict(values)).result(timeout=30)
    assert (outcome.status, outcome.content) == (
        "error",
        "Error: TimeoutError: the upstream service did not answer",
    )


def test_python_api_with_decorated_tools(server):
    @ollama_nb.tool
    def multiply(a: int, b: int) -> int:
        """Multiply two numbers."""
        return a * b

    assert multiply(2, 3) == 6  # still a plain function
    server.push(Turn(tool_calls=[call("multiply", a=6, b=7)]), Turn(content="42"))
    reply = ollama_nb.chat("6 times 7?", model="llama3.2", host=server.url, tools=[multiply], display="none")
    assert reply.content == "42" and reply.trace[0].result == "42"
    assert server.state.chats()[0]["tools"] == [multiply.__ollama_tool__.schema]


def test_the_time_to_answer_confirm_is_not_the_tools(server):
    server.push(Turn(tool_calls=[call("add_two_numbers", a=1, b=2)]), Turn(content="3."))

    def slow_person(_call: object) -> bool:
        time.sleep(0.5)  # the user reads the call before saying yes
        return True

    reply = ollama_nb.chat("1 + 2?", model="llama3.2", host=server.url, tools=[add_two_numbers],
                           confirm=slow_person, display="none")  # fmt: skip
    (trip,) = reply.trace
    assert trip.status == "ok" and trip.duration_s < 0.25
