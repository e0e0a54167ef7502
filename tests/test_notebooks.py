"""Every tutorial notebook runs top to bottom in a real kernel against the stand-in."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ollama_nb.render import MIME
from ollama_nb.standin import DemoResponder, StandInServer

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(p.name for p in FOLDER.glob("*.ipynb"))


REAL = os.environ.get("OLLAMA_NB_REAL_OLLAMA")  # e.g. http://127.0.0.1:11434 with llama3.2 and qwen3


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run each notebook once, against the demo stand-in (or a real Ollama, see REAL)."""
    with contextlib.ExitStack() as stack:
        host = REAL or stack.enter_context(StandInServer(responder=DemoResponder(delay=0))).url

        @functools.cache
        def run(name: str) -> nbformat.NotebookNode:
            nb = nbformat.read(FOLDER / name, as_version=4)
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("OLLAMA_HOST", host)
                workdir = tmp_path_factory.mktemp("run")
                NotebookClient(
                    nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
                ).execute()
            return nb

        yield run


def replies(nb: nbformat.NotebookNode) -> list[dict]:
    return [
        o["data"][MIME]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if MIME in o.get("data", {})
    ]


def text(nb: nbformat.NotebookNode) -> str:
    """Everything the code cells printed or returned, as text."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") + output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, executed):
    nb = executed(name)
    for cell in nb.cells:
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        if "raises-exception" in cell.metadata.get("tags", []):
            assert errors and len(errors[0]["traceback"]) == 1, "the failing example shows one short line"
        else:
            assert not errors, f"{name}: {cell.source[:60]!r} failed: {errors}"


stand_in_only = pytest.mark.skipif(bool(REAL), reason="checks the demo model's own answers")


@stand_in_only
def test_api_notebook_shows_the_raw_flow(executed):
    out = text(executed("00_ollama_api.ipynb"))
    assert '"done":false' in out and '"done":true' in out and "tokens/s" in out
    assert "add_two_numbers({'a': 3, 'b': 1}) = 4" in out and "returned **4**" in out
    assert "returned **11 degrees celsius**" in out  # Toronto, in celsius, sent back and used


@stand_in_only
def test_streaming_notebook_keeps_its_answers(executed):
    nb = executed("01_streaming.ipynb")
    answers = replies(nb)
    assert "Why is the sky blue?" in answers[0]["content"]  # the stand-in echoes the prompt
    assert any(a["thinking"] for a in answers), "the thinking example kept its thinking"
    (shown,) = [c for c in nb.cells if c.source == "haiku.content"]
    assert shown.outputs[0]["data"]["text/plain"] == repr(answers[1]["content"])  # --out bound it
    assert "Write a haiku" in answers[1]["content"]


@stand_in_only
def test_tools_notebook_runs_the_tools(executed):
    nb = executed("02_tools.ipynb")
    rounds = [e for a in replies(nb) for e in a["trace"]["entries"] if e["kind"] == "round"]
    assert [(r["name"], r["result"]) for r in rounds][:2] == [
        ("add_two_numbers", "4"), ("get_current_weather", "11 degrees celsius in Toronto")]  # fmt: skip
    (failed,) = [r for r in rounds if r["name"] == "divide"]
    assert failed["status"] == "error" and failed["error"].startswith("ZeroDivisionError")
    assert "('multiply', {'a': 6, 'b': 7}, '42')" in text(nb)


@stand_in_only
def test_traces_notebook_reads_back_its_export(executed):
    out = text(executed("03_traces.ipynb"))
    assert "add_two_numbers({'a': 3, 'b': 1}) -> '4' [ok]" in out
    assert "[('add_two_numbers', '4')]" in out and "### You" in out


@stand_in_only
def test_chat_widget_notebook_answers_from_code(executed):
    nb = executed("04_chat_widget.ipynb")
    out = text(nb)
    assert "`add_two_numbers` returned **4**." in out
    assert "user: What is three plus one?" in out and "tool add_two_numbers: 4" in out
    transcript = [
        o for o in nb.cells[1].outputs if "Chat transcript" in o.get("data", {}).get("text/html", "")
    ]
    assert (
        transcript and "Chat transcript (1 reply)" in transcript[0]["data"]["text/html"]
    )  # kept in the file
