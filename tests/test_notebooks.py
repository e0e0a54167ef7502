"""Every tutorial runs top to bottom in a real kernel, as `make lab` serves it with no Ollama:
the stand-in answering from notebooks/cassettes/; and each answer fits its prompt."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ollama_nb.lab import cassettes
from ollama_nb.render import MIME
from ollama_nb.standin import StandInServer, Turn

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in FOLDER.glob("*.ipynb"))
NODE = shutil.which("node")

REAL = os.environ.get("OLLAMA_NB_REAL_OLLAMA")  # e.g. http://127.0.0.1:11434 with llama3.2 and qwen3


def node_path() -> str | None:
    """The JavaScript client for tutorial 00's Node cell, installed into .node/ (as `make node`)."""
    modules = ROOT / ".node" / "node_modules"
    if NODE and not (modules / "ollama").is_dir() and shutil.which("npm"):
        subprocess.run(["npm", "install", "--silent", "--no-save", "--no-audit", "--no-fund",
                        "--prefix", str(ROOT / ".node"), "ollama@0.6"], check=True, timeout=300)  # fmt: skip
    return str(modules) if (modules / "ollama").is_dir() else None


def not_recorded(request: dict, thinks: bool) -> Turn:
    prompt = (request.get("messages") or [{}])[-1].get("content", "")
    return Turn(status=500, error=f"not in notebooks/cassettes: {prompt[:60]!r} (re-record: make cassettes)")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run each notebook once, against the stand-in replaying the cassettes (or a real Ollama)."""
    with contextlib.ExitStack() as stack:
        host = (
            REAL
            or stack.enter_context(
                StandInServer(cassette=cassettes(FOLDER / "cassettes"), responder=not_recorded, speed=50)
            ).url
        )

        @functools.cache
        def run(name: str) -> nbformat.NotebookNode:
            nb = nbformat.read(FOLDER / name, as_version=4)
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("OLLAMA_HOST", host)
                if modules := node_path():
                    patch.setenv("NODE_PATH", modules)
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


def cell_text(nb: nbformat.NotebookNode, starts: str) -> str:
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(starts)]
    return text(nbformat.v4.new_notebook(cells=[cell]))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, executed):
    nb = executed(name)
    for cell in nb.cells:
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        if "raises-exception" in cell.metadata.get("tags", []) and "ollama" not in cell.source:
            assert errors, f"{name}: {cell.source[:60]!r} was to fail (a mistake the tutorial then fixes)"
        elif "raises-exception" in cell.metadata.get("tags", []):
            assert errors and len(errors[0]["traceback"]) == 1, "the failing example shows one short line"
        else:
            assert not errors, f"{name}: {cell.source[:60]!r} failed: {errors}"


recorded_only = pytest.mark.skipif(bool(REAL), reason="checks the recorded answers")


@recorded_only
def test_api_notebook_shows_the_raw_flow(executed):
    nb = executed("00_ollama_api.ipynb")
    raw = cell_text(nb, "import json")
    assert raw.count('"done":false') == 3 and raw.splitlines()[3] == "..." and '"done":true' in raw
    assert '"done_reason":"length"' in raw  # the real server's recording (SmolLM2, capped at 90 tokens)
    assert "tokens/s" in text(nb)
    out = text(nb)
    assert "add_two_numbers({'a': 3, 'b': 1}) = 4" in out and "returned 4" in out
    assert "returned 11 degrees celsius" in out  # Toronto, in celsius, sent back and used
    thinking = cell_text(nb, "thinking_started")
    assert re.search(r"^Thinking: .*391.*\n\nAnswer: 17 × 23 = 391\.", thinking, re.S), thinking
    assert "Ollama runs language models" in cell_text(nb, "long_text")


@recorded_only
@pytest.mark.skipif(NODE is None, reason="node is not installed (CI has it)")
def test_api_notebook_streams_the_tool_call_from_javascript(executed):
    js = cell_text(executed("00_ollama_api.ipynb"), "%%script node")
    assert 'add_two_numbers({"a":3,"b":1}) = 4' in js  # the tool_calls chunk, run in Node
    assert "add_two_numbers returned 4." in js  # the follow-up stream after the role: "tool" message


@recorded_only
def test_streaming_notebook_answers_fit_their_prompts(executed):
    nb = executed("01_streaming.ipynb")
    answers = replies(nb)
    bullets = answers[0]["content"]
    assert len(re.findall(r"^- ", bullets, re.M)) == 3 and "Rayleigh" in bullets  # three short bullet points
    (shown,) = [c for c in nb.cells if c.source == "haiku.content"]
    haiku = answers[1]["content"]
    assert shown.outputs[0]["data"]["text/plain"] == repr(haiku)  # --out bound it
    assert len(haiku.splitlines()) == 3 and "stand-in server" not in haiku
    assert "Your name is Ada" in answers[3]["content"]  # --chat sent the earlier turn
    assert "Person(name='Ada Lovelace', born=1815, city='London')" in text(nb)
    assert answers[5]["content"] == "17 × 23 = 391." and "391" in answers[5]["thinking"]


@recorded_only
def test_tools_notebook_runs_the_tools(executed):
    nb = executed("02_tools.ipynb")
    rounds = [e for a in replies(nb) for e in a["trace"]["entries"] if e["kind"] == "round"]
    assert [(r["name"], r["result"]) for r in rounds][:2] == [
        ("add_two_numbers", "4"), ("get_current_weather", "11 degrees celsius in Toronto")]  # fmt: skip
    (failed,) = [r for r in rounds if r["name"] == "divide"]
    assert failed["status"] == "error" and failed["error"].startswith("ZeroDivisionError")
    assert "divide failed (ZeroDivisionError" in replies(nb)[2]["content"]
    assert "('multiply returned 42.', [('multiply', {'a': 6, 'b': 7}, '42')])" in text(nb)


@recorded_only
def test_traces_notebook_reads_back_its_export(executed):
    out = text(executed("03_traces.ipynb"))
    assert "add_two_numbers({'a': 3, 'b': 1}) -> '4' [ok]" in out
    assert "[('add_two_numbers', '4')]" in out and "### You" in out


@recorded_only
def test_chat_widget_notebook_answers_from_code(executed):
    nb = executed("04_chat_widget.ipynb")
    out = text(nb)
    assert "add_two_numbers returned 4." in out
    assert "user: What is three plus one?" in out and "tool add_two_numbers: 4" in out
    transcript = [
        o for o in nb.cells[1].outputs if "ollama-nb-transcript" in o.get("data", {}).get("text/html", "")
    ]
    assert transcript and " · 1 reply</div>" in transcript[0]["data"]["text/html"]  # kept in the file


@recorded_only
def test_mcp_notebook_calls_the_real_time_server(executed):
    nb = executed("07_mcp_tools.ipynb")
    (call,) = [e for a in replies(nb) for e in a["trace"]["entries"] if e["kind"] == "round"]
    assert (call["server"], call["name"], call["status"]) == ("clock", "convert_time", "ok")
    assert json.loads(call["result"])["time_difference"] == "-3.5h"  # the real server's answer
    assert "convert_time returned {" in replies(nb)[0]["content"]
    assert '"name": "convert_time"' in cell_text(nb, "%ollama schema")
    assert "clock · running · python -m mcp_server_time --local-timezone UTC" in cell_text(
        nb, "%ollama mcp list"
    )
    assert "clock › convert_time {'source_timezone': 'Asia/Tokyo'" in cell_text(nb, "call = ")
    assert "Removed the MCP server clock" in cell_text(nb, "%ollama mcp remove")


def test_the_links_between_tutorials_lead_on():
    links = {
        name: re.findall(r"\]\((\d\d_\w+\.ipynb)\)", nbformat.read(FOLDER / name, 4).cells[-1].source)
        for name in NOTEBOOKS
    }
    assert links == {a: [b] for a, b in zip(NOTEBOOKS, [*NOTEBOOKS[1:], NOTEBOOKS[0]], strict=True)}


@recorded_only
def test_inside_notebook_shows_the_meter_the_prompt_the_time_and_the_choice(executed):
    nb = executed("05_inside.ipynb")
    out = text(nb)
    assert (
        "⚠ The prompt lost its oldest messages" in out and "%ollama reset lists" in out
    )  # the overflowing conversation
    refused = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o["output_type"] == "error"]
    assert [o["ename"] for o in refused] == ["ContextFull"]  # --strict-context: one line
    assert "<|im_start|>system\nAnswer in one word.<|im_end|>" in out  # %ollama render
    assert "turn 2: loading the model" in out and "first token at" in out
    assert out.count("variant ") >= 2 and "first token" in out  # the comparison tables


@recorded_only
def test_notebook_context_notebook_reads_fixes_and_masks(executed):
    nb = executed("06_notebook_context.ipynb")
    answers = replies(nb)
    assert "The wettest city is Bergen with 2250 mm a year." in answers[0]["content"]  # read from In [3]
    shown = [e for e in answers[0]["trace"]["entries"] if e["kind"] == "notebook"]
    assert shown and [c["number"] for c in shown[0]["cells"]] == [1, 2, 3]
    assert "3 cells sent, about" in cell_text(nb, "shown = _ollama.trace.notebook")
    assert 'rain.sort_values("rain_mm", ascending=False)' in answers[1]["content"]  # --code
    assert (
        "KeyError: 'rain_in_mm'" in answers[2]["content"]
        and 'rain["rain_mm"].mean()' in answers[2]["content"]
    )
    assert cell_text(nb, "print(_ollama.code)").strip() == 'rain["rain_mm"].mean()'
    assert "this front end cannot add a cell" in cell_text(nb, "%ollama fix --code")
    rendered = cell_text(nb, "%ollama render --notebook")
    assert "[masked: weather_api_key]" in rendered and "https://ada:[masked]@weather.example" in rendered
    assert (
        "wk-2750-demo-9931" not in rendered and "hunter2" not in rendered and "My own notes" not in rendered
    )
