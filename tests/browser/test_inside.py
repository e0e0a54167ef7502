"""What a person sees of the inside of the model in JupyterLab: two models in columns side by side
while they stream, then the columns and the table; the context meter's warning under an answer."""

from __future__ import annotations

import time

from ollama_nb.standin import Turn

from .conftest import shot, write_notebook
from .test_lab import cell, open_notebook, output_text, run, run_and_wait, wait_done


def test_two_models_stream_side_by_side_then_leave_columns_and_a_table(page, jupyter, model_server):
    url, root = jupyter
    words = " ".join(f"word{i}" for i in range(40))
    model_server.push(Turn(content=f"First model: {words}.", delay=0.04),
                      Turn(content=f"Second model: {words}.", delay=0.04))  # fmt: skip
    name = write_notebook(
        root, "compare.ipynb", ["%load_ext ollama_nb", "%%ollama -m llama3.2,qwen3\nCompare"]
    )
    open_notebook(page, url, name)
    run_and_wait(page, 0)
    run(page, 1)
    columns = cell(page, 1).locator(".ollama-nb-live-comparison .widget-hbox > .widget-vbox")
    columns.first.wait_for(timeout=30_000)
    deadline = time.monotonic() + 30
    while "First model" not in output_text(page, 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    first, second = columns.nth(0).bounding_box(), columns.nth(1).bounding_box()
    assert first and second and second["x"] > first["x"] + first["width"] / 2  # side by side, not stacked
    assert abs(first["y"] - second["y"]) < 5
    shot(page, "inside-01-columns-streaming")
    wait_done(page, 1, timeout=60)
    table = cell(page, 1).locator("table.ollama-nb-figures")
    table.wait_for(timeout=10_000)
    rows = table.locator("tr")
    assert rows.count() == 3 and "first token" in rows.nth(0).inner_text()
    assert "llama3.2" in rows.nth(1).inner_text() and "qwen3" in rows.nth(2).inner_text()
    answers = cell(page, 1).locator("table.ollama-nb-columns td")
    assert (
        "First model: word0" in answers.nth(0).inner_text() and "Second model" in answers.nth(1).inner_text()
    )
    shot(page, "inside-02-columns-and-table")


def test_the_meter_warns_under_an_answer_that_overflowed(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(Turn(content="Noted."), Turn(content="Noted again."))
    name = write_notebook(root, "meter.ipynb", [
        "%load_ext ollama_nb",
        f"%%ollama -m llama3.2 --chat m -o num_ctx=48\nRemember: {'apples ' * 15}",
        f"%%ollama -m llama3.2 --chat m -o num_ctx=48\nAnd: {'pears ' * 15}",
    ])  # fmt: skip
    open_notebook(page, url, name)
    run_and_wait(page, 0, 1, 2)
    assert not cell(page, 1).locator(".ollama-nb-warning").count()  # the first cell fits
    meter = cell(page, 2).locator(".ollama-nb-context")
    assert "/ 48 tokens" in meter.inner_text() and "→" in meter.inner_text()
    warning = cell(page, 2).locator(".ollama-nb-warning").first
    assert warning.is_visible() and "%ollama reset m" in warning.inner_text()
    shot(page, "inside-03-meter-warning")
