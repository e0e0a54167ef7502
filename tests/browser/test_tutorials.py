"""Every tutorial, top to bottom in JupyterLab, started as `make lab` starts it with no Ollama.

`python -m ollama_nb.lab` copies the tutorials to a working folder and serves them with the
stand-in replaying notebooks/cassettes/ (eight times faster here). Each answer must fit its
prompt, the repository's notebooks must not change, and each tutorial leaves a screenshot in
the light and the dark theme.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from ..conftest import lab_address
from ..test_notebooks import NODE, NOTEBOOKS, node_path
from .conftest import ROOT, SHOTS, _free_port

NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}

# What each answer must show, by the first line of the cell that asks (checked in what the page shows).
EXPECTED: dict[str, dict[str, list[str]]] = {
    "00_ollama_api.ipynb": {
        "import json": ['"done":false', '"done":true', "..."],
        "last = json.loads(line)": ["tokens/s"],
        "def add_two_numbers": ["add_two_numbers", "'a': 3", "'b': 1"],
        "messages.append(response.message)": ["add_two_numbers({'a': 3, 'b': 1}) = 4", "returned 4"],
        "%%script node": ['add_two_numbers({"a":3,"b":1}) = 4', "returned 4"] if NODE else [],
        "def get_current_weather": ["11 degrees celsius"],
        "thinking_started": ["Thinking: ", "Answer: 17 × 23 = 391."],
        "long_text": ["Ollama runs language models"],
    },
    "01_streaming.ipynb": {
        "%%ollama -m llama3.2": ["Rayleigh", "llama3.2 · "],
        "%%ollama --system": ["the kernel listens"],
        "haiku.content": ["Pages wait in rows;\\n"],
        "%%ollama --chat class\nMy name": ["Nice to meet you, Ada"],
        "%%ollama --chat class\nWhat": ["Your name is Ada"],
        "_ollama.parsed": ["Person(name='Ada Lovelace', born=1815, city='London')"],
        "%%ollama -m qwen3 --think": ["17 × 23 = 391"],
        "print('thinking:'": ["17 × 20 = 340"],
        "%%ollama -m no-such-model": ["no-such-model", "ollama pull"],
    },
    "02_tools.ipynb": {
        "%%ollama -m llama3.2 --tools add_two_numbers": ["add_two_numbers(a=3, b=1) → 4", "returned 4"],
        "%%ollama -m llama3.2 --tools get_current_weather": ["11 degrees celsius in Toronto"],
        "%%ollama -m llama3.2 --tools divide": ["ZeroDivisionError", "divide failed"],
        "import ollama_nb": ["multiply returned 42.", "'a': 6, 'b': 7"],
    },
    "03_traces.ipynb": {
        "%%ollama -m qwen3 --tools add_two_numbers": ["add_two_numbers(a=3, b=1) → 4", "Timeline"],
        "for trip in _ollama.trace": ["add_two_numbers({'a': 3, 'b': 1}) -> '4' [ok]"],
        "import ollama_nb\n\n(trace,)": ["[('add_two_numbers', '4')]"],
        "print((folder": ["### You"],
    },
    "04_chat_widget.ipynb": {
        "from ollama_nb import ChatWidget": ["You", "add_two_numbers returned 4"],
        "chat.ask(": ["add_two_numbers returned 4."],
        "print(chat.conversation.text())": ["user: What is three plus one?", "tool add_two_numbers: 4"],
    },
    "05_inside.ipynb": {
        "%%ollama -m llama3.2\nName the three": ["Red, yellow and blue.", "/ 4,096 tokens"],
        "%%ollama -m llama3.2 --chat lists -o num_ctx=64\nAnd this one": [
            "I cannot see a first list",
            "⚠ The prompt lost its oldest messages",
        ],
        "%%ollama -m llama3.2 --chat lists -o num_ctx=64 --strict-context": ["ContextFull", "does not fit"],
        "%ollama render -m llama3.2": ["<|im_start|>system", "Answer in one word."],
        "%%ollama -m llama3.2,qwen3": ["first token", "Recursion is"],
    },
    "06_notebook_context.ipynb": {
        "%%ollama --notebook\nWhich city": [
            "Bergen with 2250 mm a year",
            "From the notebook: 3 cells",
            "/ 4,096 tokens",
        ],
        "shown = _ollama.trace.notebook": ["3 cells sent, about"],
        "%%ollama --notebook --code": ['rain.sort_values("rain_mm", ascending=False)'],
        "%ollama fix --code": [
            "KeyError: 'rain_in_mm'",
            'rain["rain_mm"].mean()',
            "From the notebook for the fix",
        ],
        "%ollama render --notebook 2": ["[masked: weather_api_key]", "https://ada:[masked]@weather.example"],
    },
    "07_mcp_tools.ipynb": {
        "%ollama schema mcp:clock": ['"name": "convert_time"'],
        "%ollama mcp list": ["clock · running", "convert_time: Convert time between timezones"],
        "%%ollama -m llama3.2 --tools mcp:clock": ["clock › convert_time(", "convert_time returned"],
        "call = _ollama.trace[0]": ["clock › convert_time", '"time_difference": "-3.5h"'],
        "%ollama mcp remove": ["Removed the MCP server clock"],
    },
}
# The cell --code puts below the asking cell in JupyterLab (not run), by the asking cell's first line.
INSERTED = {
    "06_notebook_context.ipynb": {
        "%%ollama --notebook --code": 'rain.sort_values("rain_mm", ascending=False)',
        "%ollama fix --code": 'rain["rain_mm"].mean()',
    },
}
CANNED = "knows only the tutorials' questions"  # the demo model's note for a prompt it cannot answer


def digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@dataclass
class Lab:
    url: str  # JupyterLab's address
    token: str
    folder: Path  # the working copy it serves
    log: Path
    repository: dict[str, str]  # the repository's notebooks before, by hash


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """`python -m ollama_nb.lab` with nothing at OLLAMA_HOST, as on a machine without Ollama."""
    root = tmp_path_factory.mktemp("lab")
    settings = root / ".settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    env = {**os.environ, "OLLAMA_HOST": f"http://127.0.0.1:{_free_port()}", "NODE_PATH": node_path() or "",
           "JUPYTER_CONFIG_DIR": str(root / ".config"), "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings")}  # fmt: skip
    repository = digests(ROOT / "notebooks")
    log = root / "lab.log"
    command = [sys.executable, "-m", "ollama_nb.lab", "--folder", str(root / "tutorials"), "--speed", "8",
               f"--port={_free_port()}", "--no-browser", "--ServerApp.disable_check_xsrf=True",
               f"--LabApp.workspaces_dir={root / '.workspaces'}", "--LabApp.expose_app_in_browser=True"]  # fmt: skip
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    try:
        yield Lab(*lab_address(log, process), root / "tutorials", log, repository)
    finally:
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C: JupyterLab stops its kernels
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_the_banner_is_last_and_names_the_stand_in_once(lab):
    lines = [line for line in lab.log.read_text().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("JupyterLab is ready"))
    banner = "\n".join(lines[start - 1 :])
    assert lines[-1].startswith("─") and len(lines) - start <= 8  # nothing after it so far
    host = re.search(r"no Ollama answered at (\S+), so the bundled stand-in answers there", banner)
    assert host and banner.count(host.group(1)) == 1
    assert f"Tutorials: {lab.folder}" in banner


def cell_outputs(page) -> list[str]:
    return page.evaluate(
        """sel => [...document.querySelectorAll(sel + ' .jp-Cell')].map(cell => {
            const out = cell.querySelector('.jp-Cell-outputArea');
            return out ? (out.innerText || out.textContent) : '';
        })""",
        NOTEBOOK,
    )


def page_sources(page) -> list[str]:
    """Every cell's source as the notebook in the page holds it (cells --code added included)."""
    return page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells.map(c => c.getSource())"
    )


def run_all(page, lab: Lab, name: str, sources: set[str]) -> None:
    """Run every cell; done when each code cell of the file (``sources``) has its number."""
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
    page.wait_for_function(  # running before the kernel is there asks which kernel to start
        "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
        timeout=60_000,
    )
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")  # not awaited
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        prompts = page.evaluate(  # textContent: cells out of view are not rendered (content-visibility)
            """s => [...document.querySelectorAll(s + ' .jp-Cell')].map(c =>
                   c.querySelector('.jp-InputPrompt')?.textContent ?? '')""",
            NOTEBOOK,
        )
        ours = [p for source, p in zip(page_sources(page), prompts, strict=False) if source in sources]
        if len(ours) == len(sources) and all(re.search(r"\[\d+\]", p) for p in ours):
            return
        time.sleep(0.25)
    page.screenshot(path=str(SHOTS / f"tutorial-{name.split('_')[0]}-stuck.png"))
    raise AssertionError(f"{name} did not finish: {prompts}")


def show_whole_notebook(page) -> None:
    """A window as tall as the notebook, so that every cell is drawn (and in the screenshot)."""
    for _ in range(3):  # drawing the cells out of view changes the height they take
        height = page.evaluate(  # to the last cell's end (the notebook's scroll-past-end space left out)
            """s => { const nb = document.querySelector(s);
                      const box = [nb, ...nb.querySelectorAll('.jp-WindowedPanel-outer')].reduce(
                          (a, b) => (b.scrollHeight > a.scrollHeight ? b : a));
                      box.scrollTop = 0;
                      const cells = nb.querySelectorAll('.jp-Cell');
                      const end = cells[cells.length - 1].getBoundingClientRect().bottom + box.scrollTop;
                      return end + window.innerHeight - box.getBoundingClientRect().bottom; }""",
            NOTEBOOK,
        )
        page.set_viewport_size({"width": 1200, "height": min(max(900, int(height) + 40), 14_000)})
        time.sleep(0.3)


def screenshot(page, name: str, theme: str) -> None:
    page.evaluate(
        "t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", THEMES[theme]
    )
    page.wait_for_selector(f"body[data-jp-theme-light='{str(theme == 'light').lower()}']", state="attached")
    show_whole_notebook(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"tutorial-{name.split('_')[0]}-{theme}.png"))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_tutorial_runs_top_to_bottom_with_answers_that_fit(page, lab, name):
    cells = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
    run_all(page, lab, name, {c.source for c in cells if c.cell_type == "code"})
    show_whole_notebook(page)
    in_page = page_sources(page)
    outputs = dict(zip(in_page, cell_outputs(page), strict=True))
    mistakes = {
        c.source
        for c in cells
        if "raises-exception" in c.metadata.get("tags", []) and "ollama" not in c.source
    }
    for asking, code in INSERTED.get(name, {}).items():  # --code: a new cell below, not run
        (at,) = [i for i, source in enumerate(in_page) if source.startswith(asking)]
        assert in_page[at + 1] == code, (asking, in_page[at + 1])
    assert len(in_page) == len(cells) + len(INSERTED.get(name, {}))
    for source, shown in outputs.items():
        assert CANNED not in shown, f"{name}: the demo model did not know {source[:60]!r}"
        if source in mistakes:  # the tutorial's own mistake: Python's traceback, then %ollama fix
            assert "Traceback" in shown or "Error" in shown, shown
        elif source.startswith("%%ollama -m no-such-model"):
            assert len(shown.strip().splitlines()) == 1, shown  # one short line, no traceback
        else:
            assert "Traceback" not in shown and "Error displaying widget" not in shown, (
                f"{source[:60]!r}: {shown}"
            )
    for start, wanted in EXPECTED[name].items():
        (shown,) = [out for source, out in outputs.items() if source.startswith(start)]
        for text in wanted:
            assert text in shown, f"{name}, {start!r}: {text!r} not in {shown!r}"
    if name == "01_streaming.ipynb":  # three short bullet points, rendered as a list
        sky = page.locator(f"{NOTEBOOK} .jp-Cell").nth([c.source for c in cells].index(
            next(s for s in outputs if s.startswith("%%ollama -m llama3.2"))))  # fmt: skip
        assert sky.locator(".jp-Cell-outputArea .ollama-nb-answer li").count() == 3
    for theme in ("light", "dark"):
        screenshot(page, name, theme)
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    saved = nbformat.read(lab.folder / name, as_version=4)
    assert any(c.get("outputs") for c in saved.cells), "the working copy keeps what ran"


def test_the_repository_notebooks_are_unchanged(lab):
    assert digests(ROOT / "notebooks") == lab.repository
    assert (lab.folder / "cassettes" / "demo.json").exists()
