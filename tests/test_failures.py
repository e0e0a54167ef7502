"""Nothing lost, nothing stale: interrupts in every wait, untrusted saved files, saved size."""

from __future__ import annotations

import json

import nbformat
import pytest

import ollama_nb
from ollama_nb import persist
from ollama_nb.reply import MIME
from ollama_nb.standin import Turn

from .conftest import execute_notebook, interrupt_after, run_cell
from .rawserver import Answer, RawServer


def _errors(cell: dict) -> list[dict]:
    return [o for o in cell.outputs if o["output_type"] == "error"]


@pytest.mark.parametrize(
    "cell",
    ["%%ollama -m m --think --host {url}\nhi",  # waits on /api/show for the capability check
     "%ollama config host={url}\n%ollama models"],  # waits on /api/tags
)  # fmt: skip
def test_an_interrupt_in_any_wait_is_one_line_and_the_kernel_goes_on(server, cell):
    with RawServer(Answer(hold=30)) as raw:
        nb = execute_notebook(["%load_ext ollama_nb", cell.format(url=raw.url), "print('still here')"],
                              server, allow_errors=True, interrupt_on_timeout=True,
                              timeout_func=interrupt_after(3, raw.url))  # fmt: skip
    (error,) = _errors(nb.cells[1])
    assert error["ename"] == "Interrupted" and len(error["traceback"]) == 1
    assert nb.cells[2].outputs[0]["text"] == "still here\n"


def test_a_failure_before_sending_replaces_the_previous_reply(ip, server):
    server.push(Turn(content="First answer."))
    run_cell(ip, "%%ollama -m llama3.2\nhi")
    result = run_cell(ip, "%%ollama -m gemma:2b --think\nhi")  # gemma cannot think: nothing is sent
    assert isinstance(result.error_in_exec, ollama_nb.CapabilityError)
    stale = ip.user_ns["_ollama"]
    assert stale.content == "" and "cannot use thinking" in stale.error  # not "First answer."


def _notebook_with(tmp_path, *records) -> str:
    nb = nbformat.v4.new_notebook()
    for record in records:
        output = nbformat.v4.new_output("display_data", data={"text/plain": "x", MIME: record})
        nb.cells.append(nbformat.v4.new_code_cell("%%ollama\nhi", outputs=[output]))
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    return str(path)


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ([1, 2], "a JSON object, not list"),
        ({"version": 99}, "unknown record version 99"),
        ({"version": 2, "model": "m", "messages": "nope", "trace": {"model": "m"}}, "messages: Input should be a valid list"),
        ({"version": 2, "model": "m", "messages": [], "trace": {"model": "m", "entries": [{"kind": "?"}]}}, "trace.entries.0"),
        ({"version": 2, "model": 5, "messages": [], "trace": {"model": "m"}}, "model: Input should be a valid string"),
    ],
)  # fmt: skip
def test_a_malformed_saved_reply_names_the_file_cell_and_problem(tmp_path, record, problem):
    good = {"version": 2, "model": "m", "messages": [], "trace": {"model": "m"}, "content": "fine"}
    path = _notebook_with(tmp_path, good, record)
    with pytest.raises(ollama_nb.RecordError, match=r"saved\.ipynb, cell 2: ") as caught:
        persist.load_replies(path)
    assert problem in str(caught.value)
    readable, problems = persist.read_replies(path)  # one bad output does not hide the others
    assert [r.content for r in readable] == ["fine"] and len(problems) == 1


@pytest.mark.parametrize("content", [b"\x00\x01binary", b"{not json", b"[]"])
def test_a_file_that_is_not_a_notebook_is_one_line(tmp_path, content):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    with pytest.raises(ollama_nb.RecordError, match=r"broken\.ipynb"):
        persist.load_traces(path)


def test_saved_records_keep_their_own_turn_and_the_conversation_is_rebuilt(server, tmp_path):
    server.push(*[Turn(content=f"Answer {i}: " + "x" * 2000) for i in range(12)])
    cells = ["%load_ext ollama_nb", *[f"%%ollama -m llama3.2 --chat c\nQuestion {i}" for i in range(12)]]
    nb = execute_notebook(cells, server)
    sizes = [len(json.dumps(c.outputs)) for c in nb.cells[1:]]
    assert max(sizes) < 2 * min(sizes)  # each cell saves its own turn: no growth with the conversation
    path = tmp_path / "chat.ipynb"
    nbformat.write(nb, path)
    messages = ollama_nb.load_conversation(path)
    assert [m["content"][:9] for m in messages if m["role"] == "assistant"] == [
        f"Answer {i}:"[:9] for i in range(12)
    ]
    assert [m["content"] for m in messages if m["role"] == "user"] == [f"Question {i}" for i in range(12)]
