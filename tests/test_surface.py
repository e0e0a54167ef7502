"""What a person meets outside the browser: headless front ends that read text (papermill's log,
the chat box's text fallback), an interrupt said once, a refused variant of a comparison, and
conversations emptied for the next group."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat

from ollama_nb import comparison, sidebyside
from ollama_nb.comparison_html import comparison_html
from ollama_nb.conversation import conversation
from ollama_nb.settings import defaults
from ollama_nb.standin import Turn
from ollama_nb.view import BoxView

from .conftest import execute_notebook, interrupt_after, run_cell

WIDGET = "application/vnd.jupyter.widget-view+json"


def test_papermill_logs_say_what_each_cell_is_doing_not_a_widget_repr(server, tmp_path):
    source = tmp_path / "in.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%load_ext ollama_nb"),
                                         nbformat.v4.new_code_cell("%%ollama -m llama3.2\nhi")])  # fmt: skip
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, source)
    server.push(Turn(content="Hello from the model."))
    run = subprocess.run([sys.executable, "-m", "papermill", str(source), str(tmp_path / "out.ipynb"), "--log-output"],
                         env={**os.environ, "OLLAMA_HOST": server.url}, capture_output=True, text=True, timeout=120)  # fmt: skip
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-2000:]
    assert "VBox(children" not in log and "<style>" not in log
    assert "llama3.2 is answering: this output becomes its answer when done." in log
    (output,) = nbformat.read(tmp_path / "out.ipynb", 4).cells[1].outputs
    assert output["data"]["text/plain"].startswith("Hello from the model.")


def test_the_chat_box_text_fallback_is_its_transcript(server):
    server.push(Turn(content="It is **4**."))
    nb = execute_notebook(["from ollama_nb import ChatWidget\nbox = ChatWidget(model='llama3.2')\nbox",
                           "box.ask('What is three plus one?', wait=True); None"], server)  # fmt: skip
    live, transcript = nb.cells[0].outputs
    assert WIDGET in live["data"] and live["metadata"] == {"ollama_nb": "live"}  # left out of a saved file
    text = transcript["data"]["text/plain"]
    assert "IPython.core.display.HTML" not in text
    assert "ollama_nb chat · llama3.2" in text and "· 1 reply" in text
    assert "You: What is three plus one?" in text and "It is **4**." in text


def test_an_interrupt_is_said_once(server):
    server.push(Turn(content="slow " * 1000, delay=0.01))
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m llama3.2\nramble"], server, allow_errors=True,
                          timeout_func=interrupt_after(3, "ramble"), interrupt_on_timeout=True)  # fmt: skip
    outputs = nb.cells[1].outputs
    (error,) = [o for o in outputs if o["output_type"] == "error"]
    (shown,) = [o for o in outputs if o["output_type"] == "display_data"]
    assert error["ename"] == "Interrupted" and "partial" in error["traceback"][0]
    assert "slow slow" in shown["data"]["text/html"]
    assert (
        "Interrupted" not in shown["data"]["text/html"] and "interrupted" not in shown["data"]["text/plain"]
    )
    assert shown["data"]["application/vnd.ollama-nb.reply+json"]["interrupted"] is True


def test_a_refused_variant_says_why_in_its_column_and_the_table_labels_it(server):
    server.push(Turn(content="Thought through.", thinking="Hmm."))
    columns = [BoxView("llama3.2"), BoxView("qwen3")]  # the live columns of a comparison
    grid = comparison.variants(["llama3.2", "qwen3"], [True])
    settings = defaults.settings.replace(host=server.url)
    result = sidebyside.run(settings, "Why?", grid, make_view=lambda index, variant: columns[index])
    refused = columns[0]._status_line.value
    assert "waiting" not in refused and "llama3.2 cannot use thinking" in refused
    html = comparison_html(result)
    first_column = html.split("<td>")[1]
    assert "llama3.2 cannot use thinking" in first_column
    assert "<th></th>" not in html and "<th>problem</th>" in html
    assert result.table().splitlines()[0].endswith("problem")
    server.push(Turn(content="One."), Turn(content="Two."))
    fine = sidebyside.run(settings, "Why?", comparison.variants(["llama3.2", "qwen3"]))
    assert "<th></th>" not in comparison_html(fine) and "problem" not in fine.table()


def test_reset_all_empties_every_conversation(ip, server, capsys):
    for name in ("group1", "group2"):
        run_cell(ip, f"%%ollama -m llama3.2 --chat {name}\nMy name is Ada.")
    assert len(conversation("group1")) == len(conversation("group2")) == 1
    run_cell(ip, "%ollama reset --all")
    assert "Every conversation is empty" in capsys.readouterr().out
    assert len(conversation("group1")) == len(conversation("group2")) == 0
    run_cell(ip, "%%ollama -m llama3.2 --chat group1\nWhat is my name?")
    assert [m["role"] for m in server.state.chats()[-1]["messages"]] == ["user"]
