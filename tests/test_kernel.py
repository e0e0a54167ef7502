"""The widget path in a real kernel (nbclient): what a saved notebook keeps."""

from __future__ import annotations

import json

from ollama_nb.render import MIME
from ollama_nb.standin import Turn

from .conftest import execute_notebook, interrupt_after

ANSWER = (
    "Here is **bold**, and <script>alert('x')</script> <img src=x onerror=alert(1)>.\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint('hi')\n```\n"
)


def _display(outputs: list[dict]) -> dict:
    (output,) = [o for o in outputs if o["output_type"] == "display_data"]
    return output


def test_saved_output_keeps_the_answer_without_widget_state(server):
    server.push(Turn(content=ANSWER, thinking="Let me *think*.", delay=0.002))
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m qwen3\nShow me markdown"], server)
    data = _display(nb.cells[1].outputs)["data"]
    assert "application/vnd.jupyter.widget-view+json" not in data  # the live view was replaced
    html = data["text/html"]
    assert "<strong>bold</strong>" in html and "<table>" in html and 'class="language-python"' in html
    assert "&lt;script&gt;" in html and "<script>" not in html and "<img" not in html
    assert '<details class="ollama-nb-thinking">' in html and "<em>think</em>" in html
    assert "qwen3 · " in html and "tokens/s" in html
    assert data["text/plain"].startswith("Here is **bold**")
    record = data[MIME]
    assert record["content"] == ANSWER and record["thinking"] == "Let me *think*."
    assert record["messages"][-1]["role"] == "assistant"
    json.dumps(nb)  # the notebook stays plain JSON


def test_no_out_repr_and_reply_in_namespace(server):
    server.push(Turn(content="Forty-two."))
    nb = execute_notebook(
        ["%load_ext ollama_nb", "%%ollama -m llama3.2\nWhat is the answer?", "print(repr(_ollama.content), _ollama.metrics.eval_count)"],
        server,
    )  # fmt: skip
    assert not [o for o in nb.cells[1].outputs if o["output_type"] == "execute_result"]
    assert nb.cells[2].outputs[0]["text"].strip() == "'Forty-two.' 1"


def test_failure_in_a_kernel_is_one_line(server):
    nb = execute_notebook(
        ["%load_ext ollama_nb", "%%ollama -m llama3.2 --host http://127.0.0.1:9\nhi"],
        server,
        allow_errors=True,
    )
    (error,) = [o for o in nb.cells[1].outputs if o["output_type"] == "error"]
    assert error["ename"] == "ServerUnreachable"
    assert len(error["traceback"]) == 1 and "http://127.0.0.1:9" in error["traceback"][0]


def test_mid_stream_error_leaves_partial_answer_and_error_in_the_output(server):
    server.push(Turn(content=["Partial ", "answer ", "lost?"], error_after=2, error="runner crashed"))
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m llama3.2\nhi"], server, allow_errors=True)
    html = _display(nb.cells[1].outputs)["data"]["text/html"]
    assert "Partial answer" in html and "runner crashed" in html


def test_interrupting_the_kernel_keeps_the_partial_answer(server):
    server.push(Turn(content="slow " * 1000, delay=0.01), Turn(content="Fresh answer."))
    nb = execute_notebook(
        ["%load_ext ollama_nb", "%%ollama -m llama3.2\nramble", "%%ollama -m llama3.2\nagain",
         "print(_ollama.content)"],
        server, allow_errors=True, timeout_func=interrupt_after(3, "ramble"), interrupt_on_timeout=True,
    )  # fmt: skip
    interrupted = nb.cells[1].outputs
    assert [o["ename"] for o in interrupted if o["output_type"] == "error"] == ["Interrupted"]
    html = _display(interrupted)["data"]["text/html"]
    assert "slow slow" in html and "Interrupted" not in html  # said once, by the error line
    assert nb.cells[3].outputs[0]["text"].strip() == "Fresh answer."
