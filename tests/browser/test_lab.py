"""What a person sees in JupyterLab and Notebook 7: streaming, thinking, traces, saving, safety."""

from __future__ import annotations

import itertools
import re
import time

import nbformat

from ollama_nb.standin import Turn

from .conftest import shot, write_notebook

SLOW_TOOL = '''
import time

def add_two_numbers(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number
        b: The second number
    """
    time.sleep(1.5)
    return a + b

def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b
'''


NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the notebook in the active tab


def open_notebook(page, url: str, name: str) -> None:
    page.goto(f"{url}/lab/tree/{name}?reset")  # ?reset: no notebooks restored from other tests
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)


def cell(page, index: int):
    return page.locator(f"{NOTEBOOK} .jp-Cell").nth(index)


def run(page, index: int) -> None:
    """Run a cell as a person does (click, Shift+Enter); again if the kernel was not ready yet."""
    prompt = cell(page, index).locator(".jp-InputPrompt")
    before = prompt.inner_text()
    for _ in range(6):
        dialog = page.locator(".jp-Dialog")
        if dialog.count() and "Select Kernel" in dialog.first.inner_text():
            dialog.first.locator(".jp-mod-accept").click()  # JupyterLab asks when kernelspecs load late
        elif dialog.count():
            raise AssertionError(f"JupyterLab shows a dialog: {dialog.first.inner_text()!r}")
        cell(page, index).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            now = prompt.inner_text()
            if now != before and re.search(r"\[(\*|\d+)\]", now):
                return
            time.sleep(0.05)
    raise AssertionError(f"cell {index} never started")


def wait_done(page, index: int, timeout: float = 30) -> None:
    prompt = cell(page, index).locator(".jp-InputPrompt")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = prompt.inner_text()
        if re.search(r"\[\d+\]", text):
            return
        time.sleep(0.1)
    raise AssertionError(f"cell {index} did not finish: {text!r}")


def run_and_wait(page, *indexes: int) -> None:
    for index in indexes:
        run(page, index)
        wait_done(page, index)


def output_text(page, index: int) -> str:
    return cell(page, index).locator(".jp-Cell-outputArea").inner_text()


ANSWER = "Streaming **works**: " + " ".join(f"word{i}" for i in range(60)) + ".\n\n- one\n- two\n"


def test_answer_grows_while_it_streams(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(Turn(content=ANSWER, delay=0.05))
    open_notebook(
        page,
        url,
        write_notebook(root, "stream.ipynb", ["%load_ext ollama_nb", "%%ollama -m llama3.2\nStream please"]),
    )
    run_and_wait(page, 0)
    run(page, 1)
    states: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = output_text(page, 1)
        if text and (not states or states[-1] != text):
            states.append(text)
            if len(states) == 3:
                shot(page, "01-streaming-partial")
        if "tokens/s" in text:
            break
        time.sleep(0.05)
    partial = [s for s in states if "word" in s and "tokens/s" not in s]
    assert len(partial) >= 3, states
    assert all(len(a) <= len(b) for a, b in itertools.pairwise(partial))  # it grows
    final = output_text(page, 1)
    assert "Streaming works: word0" in final and "word59." in final and "llama3.2 · " in final
    assert cell(page, 1).locator(".jp-Cell-outputArea strong").first.inner_text() == "works"
    shot(page, "02-streaming-final")


def test_thinking_has_its_own_section_and_folds_when_the_answer_starts(page, jupyter, model_server):
    url, root = jupyter
    thinking = "PONDER " + " ".join(f"step{i}" for i in range(30))
    model_server.push(Turn(thinking=thinking, content="ANSWER " + "done " * 40, delay=0.06))
    open_notebook(
        page,
        url,
        write_notebook(root, "think.ipynb", ["%load_ext ollama_nb", "%%ollama -m qwen3\nThink first"]),
    )
    run_and_wait(page, 0)
    run(page, 1)
    ponder = cell(page, 1).get_by_text("PONDER", exact=False).first
    ponder.wait_for(state="visible", timeout=15_000)
    assert "ANSWER" not in output_text(page, 1)
    assert cell(page, 1).get_by_text("Thinking").first.is_visible()
    shot(page, "03-thinking")
    cell(page, 1).get_by_text("ANSWER", exact=False).first.wait_for(state="visible", timeout=15_000)
    time.sleep(0.3)
    assert not ponder.is_visible()  # folded away once the answer streams
    shot(page, "04-thinking-folded")
    wait_done(page, 1)
    details = cell(page, 1).locator("details.ollama-nb-thinking")
    assert not details.get_attribute("open") and "PONDER" not in details.locator("summary").inner_text()
    details.locator("summary").click()
    assert details.get_by_text("PONDER", exact=False).is_visible()


def test_trace_entries_appear_live_and_open_on_click(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(
        Turn(content="Let me compute.", tool_calls=[
            {"name": "add_two_numbers", "arguments": {"a": 3, "b": 1}},
            {"name": "divide", "arguments": {"a": 1, "b": 0}}], tool_calls_on_final=True),
        Turn(content="Three plus one is 4; dividing by zero failed.", delay=0.02),
    )  # fmt: skip
    name = write_notebook(root, "trace.ipynb", ["%load_ext ollama_nb", SLOW_TOOL,
                          "%%ollama -m llama3.2 --tools add_two_numbers,divide\nWhat is three plus one?"])  # fmt: skip
    open_notebook(page, url, name)
    run_and_wait(page, 0, 1)
    run(page, 2)
    running = cell(page, 2).get_by_text("add_two_numbers(a=3, b=1) running…")
    running.wait_for(state="visible", timeout=15_000)  # live, while the tool runs
    shot(page, "05-trace-running")
    wait_done(page, 2)
    shot(page, "06-trace-done")
    entries = cell(page, 2).locator("details.ollama-nb-round")
    assert entries.count() == 2
    ok, failed = entries.nth(0), entries.nth(1)
    assert re.search(r"✓ add_two_numbers\(a=3, b=1\) → 4 · 1\.\d\d s", ok.locator("summary").inner_text())
    assert not ok.get_by_text("sent back to the model").is_visible()
    ok.locator("summary").click()
    assert ok.get_by_text("sent back to the model").is_visible()
    assert '"a": 3' in ok.inner_text() and "4" in ok.locator("pre").nth(1).inner_text()
    colour = failed.locator("summary code").evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(211, 47, 47)"  # --jp-error-color1 in the light theme
    failed.locator("summary").click()
    assert "ZeroDivisionError: float division by zero" in failed.inner_text()
    shot(page, "07-trace-open")


def test_save_close_reopen_keeps_answer_and_trace(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(
        Turn(tool_calls=[{"name": "add_two_numbers", "arguments": {"a": 2, "b": 2}}]),
        Turn(content="Two plus two is **4**."),
    )
    name = write_notebook(root, "saved.ipynb", ["%load_ext ollama_nb", SLOW_TOOL,
                          "%%ollama -m llama3.2 --tools add_two_numbers\nWhat is two plus two?"])  # fmt: skip
    open_notebook(page, url, name)
    run_and_wait(page, 0, 1, 2)
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=10_000)
    time.sleep(0.5)
    saved = nbformat.read(root / name, as_version=4)
    assert "widgets" not in saved.metadata  # as JupyterLab saves by default
    page.goto("about:blank")
    open_notebook(page, url, name)
    cell(page, 2).scroll_into_view_if_needed()  # a reopened notebook renders its outputs as they show
    cell(page, 2).locator(".jp-Cell-outputArea").get_by_text("Two plus two is 4.").wait_for(timeout=30_000)
    assert "Two plus two is 4." in output_text(page, 2)
    entry = cell(page, 2).locator("details.ollama-nb-round")
    entry.locator("summary").click()
    assert entry.get_by_text("sent back to the model").is_visible()
    cell(page, 2).get_by_text("Timeline").click()
    bars = cell(page, 2).locator("svg.ollama-nb-timeline rect")
    titles = cell(page, 2).locator("svg.ollama-nb-timeline rect > title").all_text_contents()
    assert bars.first.is_visible() and [
        t.split(":")[0] for t in titles if not t.startswith(("loading", "reading", "writing", "the rest"))
    ] == ["model turn 1", "add_two_numbers", "model turn 2"]  # and each turn's phases
    shot(page, "08-reopened")


def test_model_html_and_script_stay_text(page, jupyter, model_server):
    url, root = jupyter
    evil = ("<script>window.__pwned = 1; alert('script')</script> <img src=x onerror=\"window.__pwned = 2\"> "
            "[click](javascript:alert(3)) <b>not bold</b>")  # fmt: skip
    model_server.push(Turn(content=evil, delay=0.01))
    name = write_notebook(root, "evil.ipynb", ["%load_ext ollama_nb", "%%ollama -m llama3.2\nbe evil"])
    open_notebook(page, url, name)
    run_and_wait(page, 0, 1)
    time.sleep(0.5)
    text = output_text(page, 1)
    assert "<script>window.__pwned = 1;" in text and "<b>not bold</b>" in text
    area = cell(page, 1).locator(".jp-Cell-outputArea")
    assert area.locator("script, img").count() == 0
    assert area.locator("b", has_text="not bold").count() == 0
    assert area.locator("a[href^='javascript']").count() == 0
    assert page.evaluate("window.__pwned") is None and page.dialogs == []
    shot(page, "09-escaped")


def test_notebook_7_renders_the_same_cell(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(Turn(content="Hello from **Notebook 7**.", thinking="Quick thought.", delay=0.02))
    name = write_notebook(root, "nb7.ipynb", ["%load_ext ollama_nb", "%%ollama -m qwen3\nhello"])
    page.goto(f"{url}/notebooks/{name}")
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
    run_and_wait(page, 0, 1)
    assert "Hello from Notebook 7." in output_text(page, 1)
    assert cell(page, 1).locator(".jp-Cell-outputArea strong").inner_text() == "Notebook 7"
    assert "qwen3 · " in output_text(page, 1)
    shot(page, "10-notebook7")


def test_chat_widget_streams_and_stops(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(Turn(content="Hello, I am the chat box.", delay=0.05),
                      Turn(content=" ".join(f"long{i}" for i in range(400)), delay=0.05))  # fmt: skip
    name = write_notebook(
        root, "chat.ipynb", ["from ollama_nb import ChatWidget\nChatWidget(model='llama3.2')"]
    )
    open_notebook(page, url, name)
    run_and_wait(page, 0)
    box = cell(page, 0).locator(".ollama-nb-chat")
    box.locator("textarea").fill("Hi there")
    box.get_by_role("button", name="Send").click()
    box.get_by_text("Hello, I am the chat box.").wait_for(timeout=15_000)
    assert box.get_by_text("Hi there").is_visible()
    box.get_by_text("tokens/s").wait_for(timeout=15_000)
    shot(page, "11-chat-reply")
    box.locator("textarea").fill("Talk for a long time")
    box.get_by_role("button", name="Send").click()
    box.get_by_text("long5", exact=False).first.wait_for(timeout=15_000)
    box.get_by_role("button", name="Stop").click()
    box.get_by_text("Interrupted", exact=False).wait_for(timeout=15_000)
    partial = box.inner_text()
    assert "long5" in partial and "long399" not in partial
    shot(page, "12-chat-stopped")
    time.sleep(1)
    assert "long399" not in box.inner_text()  # it really stopped


def test_confirm_asks_in_the_notebook_before_a_tool_runs(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(
        Turn(tool_calls=[{"name": "divide", "arguments": {"a": 6, "b": 3}}]),
        Turn(content="Six divided by three is 2."),
    )
    name = write_notebook(root, "confirm.ipynb", ["%load_ext ollama_nb", SLOW_TOOL,
                          "%%ollama -m llama3.2 --tools divide --confirm\nSix divided by three?"])  # fmt: skip
    open_notebook(page, url, name)
    run_and_wait(page, 0, 1)
    run(page, 2)
    prompt = cell(page, 2).locator(".jp-Stdin")
    prompt.wait_for(timeout=15_000)
    assert 'Run divide({"a": 6, "b": 3})? [y/N]' in prompt.inner_text()
    shot(page, "13-confirm")
    prompt.locator("input").fill("y")
    prompt.locator("input").press("Enter")
    wait_done(page, 2)
    assert "✓ divide(a=6, b=3) → 2.0" in output_text(page, 2)
    assert "Six divided by three is 2." in output_text(page, 2)
