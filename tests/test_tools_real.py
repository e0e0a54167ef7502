"""Tool calls made by the real Ollama: its parser turns the model's output into ``tool_calls``.

The 135M model will not call a tool when asked, but ``smollm2-toolcall`` writes calls as bare
JSON (as Llama 3.2 does), and a ``format`` schema naming the tool and pinning its arguments
(``scripts/real_ollama.py``'s ``tool_call_format``), with temperature 0 and a seed, makes its
constrained answer exactly that call: the real server parses it into ``message.tool_calls`` with
an id. ``format`` goes with every round, so :class:`RoundFormats`, a real :class:`Backend`
around the real one (``ollama_nb.chat(..., backend=)``), sets each round's ``format`` (a call,
or none for the answer); the kernel tests send the same ``format`` every round instead.
"""

from __future__ import annotations

import copy
import inspect
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import nbformat
import pytest

import ollama_nb
from ollama_nb.backend import ModelInfo
from ollama_nb.ollama_backend import OllamaBackend
from ollama_nb.tools import Toolbox
from ollama_nb.trace import ToolRound
from scripts.real_ollama import TOOL_CALL_OPTIONS, TOOLCALL, tool_call_format

from .real import Kernel, Run

pytestmark = pytest.mark.real

ADD_3_1 = tool_call_format("add_two_numbers", a=3, b=1)
SHORT = {**TOOL_CALL_OPTIONS, "num_predict": 40}


def add_two_numbers(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a * b


def divide(a: float, b: float) -> float:
    """Divide a by b.

    Args:
        a: The dividend.
        b: The divisor.
    """
    return a / b


class RoundFormats:
    """The real backend, with each round's ``format`` taken from a list (None: no format, the
    model answers in words); every other request and method goes through unchanged."""

    def __init__(self, inner: OllamaBackend, formats: list[dict[str, Any] | None]) -> None:
        self.inner, self.formats, self.bodies = inner, list(formats), []

    @property
    def host(self) -> str:
        return self.inner.host

    def chat(
        self, body: dict[str, Any], cancel: threading.Event | None = None, report: Any = None
    ) -> Iterator[dict[str, Any]]:
        fmt = self.formats.pop(0) if self.formats else None
        body = {k: v for k, v in body.items() if k != "format"} | ({"format": fmt} if fmt else {})
        self.bodies.append(copy.deepcopy(body))  # as sent (the loop goes on adding to its messages)
        return self.inner.chat(body, cancel, report)

    def __getattr__(self, name: str) -> Any:  # models, show, capabilities, pull... as they are
        return getattr(self.inner, name)

    def models(self, cancel: threading.Event | None = None) -> list[ModelInfo]:
        return self.inner.models(cancel)


def ask(real_host: str, prompt: str, formats: list[dict[str, Any] | None], tools: list, **settings: Any):
    """``ollama_nb.chat`` with :class:`RoundFormats` as its backend (the redesign takes one)."""
    backend = RoundFormats(OllamaBackend(real_host), formats)
    reply = ollama_nb.chat(prompt, model=TOOLCALL, tools=tools, options=SHORT, backend=backend,
                           display="none", **settings)  # fmt: skip
    return reply, backend


def rounds(reply) -> list[ToolRound]:
    return [entry for entry in reply.trace if isinstance(entry, ToolRound)]


def test_the_exact_request_gets_a_tool_call_with_an_id(real_host):
    """The request recorded in the README: the server's own chunk, read raw."""
    body = {"model": TOOLCALL, "messages": [{"role": "user", "content": "What is three plus one?"}],
            "tools": [Toolbox([add_two_numbers]).schemas()[0]], "format": ADD_3_1, "options": SHORT, "stream": True}  # fmt: skip
    chunks = [c for c in OllamaBackend(real_host).chat(body)]
    calls = [call for c in chunks for call in c["message"].get("tool_calls", [])]
    assert len(calls) == 1
    assert calls[0]["function"]["name"] == "add_two_numbers" and calls[0]["function"]["arguments"] == {
        "a": 3,
        "b": 1,
    }
    assert calls[0]["id"].startswith("call_") and len(calls[0]["id"]) == 13
    assert chunks[-1]["done"] is True


def test_chat_runs_the_call_and_sends_the_result_back_by_id(real_host):
    """Through ``ollama_nb.chat`` itself (format on every round; one round, then it answers)."""
    reply = ollama_nb.chat("What is three plus one?", model=TOOLCALL, host=real_host, tools=[add_two_numbers],
                           format=ADD_3_1, options=SHORT, max_rounds=1, display="none")  # fmt: skip
    (trip,) = rounds(reply)
    assert (trip.name, trip.arguments, trip.result) == ("add_two_numbers", {"a": 3, "b": 1}, "4")
    call_id = trip.id
    assert call_id.startswith("call_")
    tool_message = next(m for m in reply.messages if m["role"] == "tool")
    assert tool_message["tool_call_id"] == call_id and tool_message["content"] == "4"
    assert reply.max_rounds_reached  # the last round went without tools: its words are the answer
    saved = ollama_nb.Reply.from_record(reply.to_record())
    assert [r.id for r in rounds(saved)] == [call_id]


def test_after_the_result_the_model_answers_in_words(real_host):
    reply, backend = ask(real_host, "What is three plus one?", [ADD_3_1, None], [add_two_numbers])
    (trip,) = rounds(reply)
    assert trip.result == "4" and not reply.max_rounds_reached
    assert reply.content.strip()  # the 135M model's own words (what they say is up to it)
    second = backend.bodies[1]
    assert "format" not in second and second["messages"][-1] == {
        "role": "tool", "tool_name": "add_two_numbers", "tool_call_id": trip.id, "content": "4"}  # fmt: skip
    assert second["messages"][-2]["tool_calls"][0]["id"] == trip.id


def test_two_tools_in_one_turn_across_rounds(real_host):
    reply, backend = ask(real_host, "Add 3 and 1, then multiply the sum by 5.",
                         [ADD_3_1, tool_call_format("multiply", a=4, b=5), None], [add_two_numbers, multiply])  # fmt: skip
    trips = rounds(reply)
    assert [(t.name, t.result) for t in trips] == [("add_two_numbers", "4"), ("multiply", "20")]
    assert len({t.id for t in trips}) == 2, "each call has its own id"
    ids = [m["tool_call_id"] for m in backend.bodies[2]["messages"] if m["role"] == "tool"]
    assert ids == [t.id for t in trips]


def test_a_tool_that_raises_goes_back_as_an_error_and_the_cell_goes_on(real_host):
    reply, backend = ask(real_host, "Divide 3 by 0.", [tool_call_format("divide", a=3, b=0), None], [divide])
    (trip,) = rounds(reply)
    assert trip.error and "ZeroDivisionError" in trip.error
    sent = backend.bodies[1]["messages"][-1]
    assert sent["role"] == "tool" and "ZeroDivisionError" in sent["content"]
    assert reply.content.strip()


def test_a_declined_call_is_not_run_and_the_model_is_told(real_host):
    ran: list[int] = []

    def recorded(a: int, b: int) -> int:
        """Add two numbers.

        Args:
            a: The first number.
            b: The second number.
        """
        ran.append(a)
        return a + b

    recorded.__name__ = "add_two_numbers"
    reply, backend = ask(
        real_host, "What is three plus one?", [ADD_3_1, None], [recorded], confirm=lambda call: False
    )
    assert ran == []
    assert "declined" in backend.bodies[1]["messages"][-1]["content"].lower()
    assert reply.content.strip()


def test_the_server_renders_the_call_back_as_bare_json(real_host):
    """The template writes an earlier call as Llama 3.2 does, arguments as JSON (not a Go struct)."""
    messages = [{"role": "user", "content": "What is three plus one?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_k3j8x0qz", "function": {"name": "add_two_numbers", "arguments": {"a": 3, "b": 1}}}]},
                {"role": "tool", "tool_name": "add_two_numbers", "tool_call_id": "call_k3j8x0qz", "content": "4"}]  # fmt: skip
    answer = httpx.post(f"{real_host}/api/chat", json={"model": TOOLCALL, "messages": messages, "stream": False,
                        "_debug_render_only": True}, timeout=60).json()  # fmt: skip
    rendered = answer["_debug_info"]["rendered_template"]
    assert (
        '<|im_start|>assistant\n{"name": "add_two_numbers", "parameters": {"a":3,"b":1}}<|im_end|>'
        in rendered
    )
    assert "<|im_start|>user\nResult: 4<|im_end|>" in rendered


# -- through a real kernel, as a notebook user runs it --------------------------------------------
# `format` names the call on every round of a cell; `--max-rounds N` makes round N+1 go without
# tools, so the model's last words answer (in the format's JSON: the server parses no call then).
CALLS = "-m smollm2-toolcall -o temperature=0 -o seed=42 -o num_predict=40"
TOOL_SOURCE = "\n\n".join(inspect.getsource(f) for f in (add_two_numbers, multiply, divide))


@pytest.fixture(scope="module")
def kernel(real_host: str):
    started = Kernel(real_host)
    started.run(TOOL_SOURCE + "\nfrom scripts.real_ollama import tool_call_format\n"
                "ADD = tool_call_format('add_two_numbers', a=3, b=1)\n"
                "DIVIDE = tool_call_format('divide', a=3, b=0)\n"
                "EITHER = {'anyOf': [ADD, tool_call_format('multiply', a=4, b=5)]}")  # fmt: skip
    yield started
    started.close()


def saved_and_read_back(run: Run, tmp_path) -> ollama_nb.Reply:
    """The cell's output written to a notebook file as Jupyter saves it, and read back."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("%%ollama ...")
    cell.outputs = [nbformat.v4.new_output("display_data", data=run.final)]
    nb.cells = [cell]
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    (reply,) = ollama_nb.load_replies(path)
    return reply


def test_a_cell_streams_a_real_tool_call_runs_it_and_keeps_the_trace(kernel, tmp_path):
    run = kernel.run(f"%%ollama {CALLS} --tools add_two_numbers --format ADD --max-rounds 1\n"
                     "What is three plus one?", timeout=180)  # fmt: skip
    assert not run.errors, run.errors
    (trip,) = [e for e in run.reply["trace"]["entries"] if e["kind"] == "round"]
    assert (trip["name"], trip["arguments"], trip["result"], trip["status"]) == (
        "add_two_numbers", {"a": 3, "b": 1}, "4", "ok")  # fmt: skip
    assert trip["id"].startswith("call_"), "the id the real server gave the call"
    sent = kernel.value("[m for m in _ollama.messages if m['role'] == 'tool']")
    assert sent == [
        {"role": "tool", "tool_name": "add_two_numbers", "tool_call_id": trip["id"], "content": "4"}
    ]
    assert re.search(r"add_two_numbers\((a=3, b=1|b=1, a=3)\) → 4", run.final["text/plain"])
    reread = saved_and_read_back(run, tmp_path)
    assert [(r.name, r.id, r.result) for r in reread.trace.rounds] == [("add_two_numbers", trip["id"], "4")]


def test_two_tools_in_one_cell_across_rounds(kernel):
    """With either call allowed, the model (temperature 0, seed 42) adds, then multiplies."""
    run = kernel.run(f"%%ollama {CALLS} --tools add_two_numbers,multiply --format EITHER --max-rounds 2\n"
                     "Add 3 and 1, then multiply the sum by 5.", timeout=240)  # fmt: skip
    assert not run.errors, run.errors
    trips = [e for e in run.reply["trace"]["entries"] if e["kind"] == "round"]
    assert [(t["name"], t["result"]) for t in trips] == [("add_two_numbers", "4"), ("multiply", "20")]
    assert trips[0]["id"] != trips[1]["id"] and trips[0]["turn"] != trips[1]["turn"]


def test_a_tool_that_raises_is_traced_and_the_cell_ends_with_an_answer(kernel):
    run = kernel.run(
        f"%%ollama {CALLS} --tools divide --format DIVIDE --max-rounds 1\nDivide 3 by 0.", timeout=180
    )
    assert not run.errors, "the tool's error goes to the model, not to the cell"
    (trip,) = [e for e in run.reply["trace"]["entries"] if e["kind"] == "round"]
    assert trip["status"] == "error" and trip["error"].startswith("ZeroDivisionError")
    assert "ZeroDivisionError" in kernel.value(
        "[m for m in _ollama.messages if m['role'] == 'tool'][0]['content']"
    )
    assert run.reply["content"].strip()


def test_confirm_asks_before_the_real_call_and_a_no_is_not_run(kernel):
    kernel.run("ran = []\n_add = add_two_numbers\n"
               "def add_two_numbers(a: int, b: int) -> int:\n    'Add two numbers.'\n    ran.append(a)\n    return a + b")  # fmt: skip
    try:
        run = kernel.run(f"%%ollama {CALLS} --tools add_two_numbers --format ADD --max-rounds 1 --confirm\n"
                         "What is three plus one?", timeout=180, answers=["n"])  # fmt: skip
        assert not run.errors, run.errors
        # the server's arguments come in either order (a Go map): the prompt shows them as sent
        assert run.prompts in (['Run add_two_numbers({"a": 3, "b": 1})? [y/N] '],
                               ['Run add_two_numbers({"b": 1, "a": 3})? [y/N] '])  # fmt: skip
        assert kernel.value("ran") == []
        (trip,) = [e for e in run.reply["trace"]["entries"] if e["kind"] == "round"]
        assert trip["status"] == "refused"
        yes = kernel.run(f"%%ollama {CALLS} --tools add_two_numbers --format ADD --max-rounds 1 --confirm\n"
                         "What is three plus one?", timeout=180, answers=["y"])  # fmt: skip
        assert kernel.value("ran") == [3]
        assert [e["result"] for e in yes.reply["trace"]["entries"] if e["kind"] == "round"] == ["4"]
    finally:
        kernel.run("add_two_numbers = _add")
