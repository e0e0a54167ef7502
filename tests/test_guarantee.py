"""Every step of a cell inside one guarantee: a server that answers odd shapes for the extras
(the context meter's ``/api/ps`` and ``/api/show``, ``/api/version``, the render request, token
probabilities) never costs a streamed answer. Checked through a real kernel: the saved output
holds the answer, ``_ollama`` is this cell's reply, and no traceback is printed."""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

import pytest

import ollama_nb
from ollama_nb.render import MIME
from ollama_nb.standin import Turn

from . import conftest
from .conftest import execute_notebook
from .rawserver import Answer, RawServer, chunk, json_answer

EMPTY_PS = {"/api/ps": json_answer({"models": []})}

CASES: dict[str, tuple[dict[str, Answer], list[Answer], str]] = {
    "ps answers a list": ({"/api/ps": json_answer([1, 2])}, [], ""),
    "ps lists strings": ({"/api/ps": json_answer({"models": ["m", "n"]})}, [], ""),
    "ps says models: 5": ({"/api/ps": json_answer({"models": 5})}, [], ""),
    "show's model_info is a list": ({**EMPTY_PS, "/api/show": json_answer({"model_info": [1, 2]})}, [], ""),
    "show answers 500": ({**EMPTY_PS, "/api/show": json_answer({"error": "boom"}, 500)}, [], ""),
    "a logprob of 1000": ({}, [Answer(lines=[chunk("big", logprobs=[{"token": "big", "logprob": 1000}]),
                                             chunk("", done=True)])], "--logprobs"),
    "logprobs abc, not asked": ({}, [Answer(lines=[chunk("abc", logprobs="abc"), chunk("", done=True)])], ""),
    "logprobs 5": ({}, [Answer(lines=[chunk("five", logprobs=5), chunk("", done=True)])], "--logprobs"),
    "version answers a list": ({"/api/version": json_answer([0, 24])}, [], "--render"),
    "render answers 500": ({"/api/version": json_answer({"version": "0.24.0"})},
                           [Answer(status=500, content_type="application/json", lines=['{"error":"render broke"}'])],
                           "--render"),
    "show says capabilities: 5": ({**EMPTY_PS, "/api/show": json_answer({"capabilities": 5})}, [], "--tools f"),
}  # fmt: skip


def _outputs_text(cell: Any) -> str:
    return "\n".join(json.dumps(o) for o in cell.get("outputs", []))


def test_odd_extras_never_cost_the_answer(server):
    names = list(CASES)
    with ExitStack() as stack:
        raws = [stack.enter_context(RawServer(*CASES[n][1], routes=CASES[n][0])) for n in names]
        cells = ["%load_ext ollama_nb\ndef f(x: int) -> int:\n    return x"]
        for name, raw in zip(names, raws, strict=True):
            cells.append(f"%%ollama -m m --host {raw.url} {CASES[name][2]}\nhi ({name})")
            cells.append("print(_ollama.trace.prompt, _ollama.content, _ollama.status, sep=' | ')")
        nb = execute_notebook(cells, server, allow_errors=True, timeout=60)
    for index, name in enumerate(names):
        asked, check = nb.cells[1 + 2 * index], nb.cells[2 + 2 * index]
        shown = _outputs_text(asked)
        assert "Traceback" not in shown and '"output_type": "error"' not in shown, (name, shown[:2000])
        bundles = [
            o["data"] for o in asked.outputs if o.get("output_type") in ("display_data", "execute_result")
        ]
        record = next(b[MIME] for b in bundles if MIME in b)
        assert record["content"], name  # the streamed answer is in the saved output
        printed = "".join(o.get("text", "") for o in check.outputs)
        prompt, content, status = printed.strip().split(" | ")
        assert (prompt, status) == (f"hi ({name})", "ok") and content == record["content"], (name, printed)


def test_a_silent_ps_ends_within_the_timeout_with_the_answer_kept(ip, capsys):
    with RawServer(routes={"/api/ps": Answer(content_type="application/json", hold=30)}) as raw:
        ip.run_line_magic("ollama", "config timeout=1")
        try:
            result = ip.run_cell(f"%%ollama -m m --host {raw.url}\nhi")
        finally:
            ollama_nb.defaults.timeout = None
    assert result.error_in_exec is None
    reply = ip.user_ns["_ollama"]
    assert reply.content == "ok" and reply.context is not None and reply.context.limit is None


@pytest.mark.parametrize("parallel", ["", "--parallel"])
def test_a_comparison_keeps_every_column_when_ps_is_odd(ip, parallel):
    with RawServer(routes={"/api/ps": json_answer({"models": 5})}) as raw:
        result = ip.run_cell(f"%%ollama -m m,n --host {raw.url} {parallel}\nhi")
    assert result.error_in_exec is None
    comparison = ip.user_ns["_ollama"]
    assert [r.content for r in comparison] == ["ok", "ok"]


def test_the_chat_box_keeps_its_reply_when_ps_is_odd():
    with RawServer(routes={"/api/ps": json_answer([1]), "/api/tags": json_answer({"models": []})}) as raw:
        box = ollama_nb.ChatWidget(model="m", host=raw.url)
        reply = box.ask("hi", wait=True).result()
    assert reply is not None and reply.content == "ok"
    assert box.replies == [reply] and box.conversation.messages[-1]["content"] == "ok"


def test_a_tool_that_clears_the_output_leaves_the_answer_saved(server):
    server.push(Turn(tool_calls=[{"name": "tidy", "arguments": {}}]), Turn(content="Done."))
    cells = [
        "%load_ext ollama_nb\nfrom IPython.display import clear_output\n"
        'def tidy() -> str:\n    """Clear the screen."""\n    clear_output()\n    print(\'tidied\')\n    return \'ok\'',
        "%%ollama -m llama3.2 --tools tidy\nTidy up.",
    ]
    nb = execute_notebook(cells, server)
    bundles = [o["data"] for o in nb.cells[1].outputs if o.get("output_type") == "display_data"]
    saved = [b[MIME] for b in bundles if MIME in b]
    assert len(saved) == 1 and saved[0]["content"] == "Done."
    assert any("tidy" in b.get("text/html", "") for b in bundles if MIME in b)


def _errors(cell: Any) -> list[Any]:
    return [o for o in cell.outputs if o["output_type"] == "error"]


def test_an_interrupt_while_the_meter_asks_keeps_the_whole_answer(server):
    with RawServer(routes={"/api/ps": Answer(content_type="application/json", hold=30)}) as raw:
        nb = execute_notebook(
            ["%load_ext ollama_nb", f"%%ollama -m m --host {raw.url}\nhi", "print(_ollama.content, _ollama.status)"],
            server, allow_errors=True, interrupt_on_timeout=True, timeout_func=conftest.interrupt_after(4, raw.url),
        )  # fmt: skip
    (error,) = _errors(nb.cells[1])
    assert error["ename"] == "Interrupted" and "complete" in error["evalue"]
    saved = [o["data"][MIME] for o in nb.cells[1].outputs if MIME in o.get("data", {})]
    assert saved and saved[0]["content"] == "ok"
    assert nb.cells[2].outputs[0]["text"].split() == ["ok", "ok"]


def test_interrupting_a_parallel_comparison_keeps_every_column(server):
    words = [f"w{i} " for i in range(60)]
    server.push(Turn(content="".join(words), delay=0.1), Turn(content="".join(words), delay=0.1))
    nb = execute_notebook(
        ["%load_ext ollama_nb", "%%ollama -m llama3.2,qwen3 --parallel\nCount slowly.",
         "import time; time.sleep(1); print([len(r.content) > 0 for r in _ollama], _ollama.interrupted)"],
        server, allow_errors=True, interrupt_on_timeout=True,
        timeout_func=conftest.interrupt_after(3, "--parallel"),
    )  # fmt: skip
    assert nb.cells[2].outputs[0]["text"].strip() == "[True, True] True"
    table = [o["data"]["text/plain"] for o in nb.cells[1].outputs if "text/plain" in o.get("data", {})]
    assert table and "not asked" not in table[-1]
