"""Every tutorial notebook runs top to bottom in a real kernel against the stand-in."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ollama_nb.render import MIME
from ollama_nb.standin import DemoResponder, StandInServer

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> StandInServer:
    with StandInServer(responder=DemoResponder(delay=0)) as server:
        yield server


def run(path: Path, server: StandInServer, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return nb


def replies(nb: nbformat.NotebookNode) -> list[dict]:
    return [
        o["data"][MIME]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if MIME in o.get("data", {})
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, demo, monkeypatch):
    nb = run(path, demo, monkeypatch)
    for cell in nb.cells:
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        if "raises-exception" in cell.metadata.get("tags", []):
            assert errors and len(errors[0]["traceback"]) == 1, "the failing example shows one short line"
        else:
            assert not errors, f"{path.name}: {cell.source[:60]!r} failed: {errors}"
    assert replies(nb), "the notebook leaves at least one answer in its outputs"


def test_streaming_notebook_keeps_its_answers(demo, monkeypatch):
    nb = run(NOTEBOOKS[0], demo, monkeypatch)
    answers = replies(nb)
    assert "Why is the sky blue?" in answers[0]["content"]  # the stand-in echoes the prompt
    assert any(a["thinking"] for a in answers), "the thinking example kept its thinking"
    (shown,) = [c for c in nb.cells if c.source == "haiku.content"]
    assert shown.outputs[0]["data"]["text/plain"] == repr(answers[1]["content"])  # --out bound it
    assert "Write a haiku" in answers[1]["content"]
