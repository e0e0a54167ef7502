"""What a person reads: the live view and the saved output look alike, in light and dark
themes; the chat box shows every reply, follows the newest, sends on Ctrl/Shift+Enter, and
leaves a readable transcript when reopened without widget state."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest
from nbconvert import MarkdownExporter

from ollama_nb.render import stylesheet
from ollama_nb.standin import Turn

from .conftest import shot, write_notebook
from .test_lab import NOTEBOOK, SLOW_TOOL, cell, open_notebook, output_text, run, run_and_wait, wait_done

WIDGET = "application/vnd.jupyter.widget-view+json"

ANSWER = """Here is a **table** and some `code`:

| name | value |
|------|-------|
| a    | 1     |
| b    | 2     |

```python
def f(x):
    return x + 1
```

A closing paragraph with more words in it"""

# Where each part of the answer is, and how it is drawn, relative to the cell's output area.
MEASURE = """(area) => {
  const top = area.getBoundingClientRect().top, out = {};
  for (const [name, sel] of [['first', '.ollama-nb-answer p'], ['table', '.ollama-nb-answer table'],
                             ['code', '.ollama-nb-answer pre'], ['last', '.ollama-nb-answer p:last-of-type'],
                             ['thinking', '.ollama-nb-thinking'], ['status', '.ollama-nb-status']]) {
    const e = area.querySelector(sel), r = e.getBoundingClientRect(), c = getComputedStyle(e);
    out[name] = {y: Math.round(r.top - top), x: Math.round(r.left), w: Math.round(r.width),
                 font: c.fontSize, colour: c.color, background: c.backgroundColor, border: c.borderTopWidth};
  }
  return out;
}"""

# WCAG contrast of an element's text against the background it is drawn on.
CONTRAST = """(e) => {
  const rgba = s => s.match(/[\\d.]+/g).map(Number);
  let back = [255, 255, 255];
  const layers = [];
  for (let n = e; n; n = n.parentElement) {
    const b = rgba(getComputedStyle(n).backgroundColor);
    if ((b[3] ?? 1) > 0) { layers.push(b); if ((b[3] ?? 1) === 1) break; }
  }
  for (const b of layers.reverse()) { const a = b[3] ?? 1; back = back.map((v, i) => v * (1 - a) + b[i] * a); }
  const f = rgba(getComputedStyle(e).color), a = f[3] ?? 1;
  const fore = back.map((v, i) => v * (1 - a) + f[i] * a);
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [hi, lo] = [lum(fore), lum(back)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}"""


def _area(page, index: int):
    return cell(page, index).locator(".jp-Cell-outputArea")


def test_live_and_final_output_look_the_same(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(Turn(thinking=["I should show a table."], content=[ANSWER, "."], delay=2.5))
    open_notebook(
        page, url, write_notebook(root, "look.ipynb", ["%load_ext ollama_nb", "%%ollama -m qwen3\nshow me"])
    )
    run_and_wait(page, 0)
    run(page, 1)
    cell(page, 1).get_by_text("A closing paragraph", exact=False).first.wait_for(timeout=20_000)
    time.sleep(0.5)  # the last chunk is 2.5 s away: this is the live view
    assert "streaming" in output_text(page, 1)
    live = _area(page, 1).evaluate(MEASURE)
    shot(page, "14-look-live")
    wait_done(page, 1)
    time.sleep(0.3)
    final = _area(page, 1).evaluate(MEASURE)
    shot(page, "15-look-final")
    assert "tokens/s" in output_text(page, 1)  # the static output replaced the live view
    for part in live:
        assert abs(live[part]["y"] - final[part]["y"]) <= 1, (part, live[part], final[part])
        assert (
            abs(live[part]["x"] - final[part]["x"]) <= 1 and abs(live[part]["w"] - final[part]["w"]) <= 1
        ), part
        assert live[part]["font"] == final[part]["font"] and live[part]["colour"] == final[part]["colour"], (
            part
        )
    code = final["code"]
    assert code["background"] not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)") and code["border"] == "1px"
    assert live["code"]["background"] == code["background"]
    assert final["table"]["border"] == "0px"  # the cells have the borders:
    assert (
        _area(page, 1)
        .locator(".ollama-nb-answer td")
        .first.evaluate("e => getComputedStyle(e).borderTopWidth")
        == "1px"
    )


@pytest.fixture
def dark(jupyter) -> Iterator[None]:
    """JupyterLab Dark for one test (the settings are read when a page loads)."""
    _, root = jupyter
    settings = root / ".settings" / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
    settings.write_text(json.dumps({"theme": "JupyterLab Dark"}))
    yield
    settings.unlink()


def test_dark_theme_keeps_contrast_and_colours(page, jupyter, model_server, dark):
    url, root = jupyter
    model_server.push(
        Turn(thinking="Let me divide.", tool_calls=[{"name": "divide", "arguments": {"a": 1, "b": 0}}]),
        Turn(
            content="Dividing by zero failed. Here is `code`:\n\n```\n1 / 0\n```\n\n| a | b |\n|---|---|\n| 1 | 0 |\n"
        ),
        Turn(content=["Half an ", "answer"], error_after=1, error="out of memory"),
    )
    name = write_notebook(root, "dark.ipynb", ["%load_ext ollama_nb", SLOW_TOOL,
                          "%%ollama -m qwen3 --tools divide\nDivide one by zero", "%%ollama -m qwen3\nfail"])  # fmt: skip
    open_notebook(page, url, name)
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    run_and_wait(page, 0, 1, 2, 3)
    time.sleep(0.3)
    shot(page, "16-dark")
    area = _area(page, 2)
    background = page.evaluate(
        "() => getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim()"
    )
    assert background == "#111"
    for muted in (area.locator(".ollama-nb-status"), area.locator(".ollama-nb-thinking summary"),
                  area.locator(".ollama-nb-prompt summary")):  # fmt: skip
        assert muted.first.evaluate(CONTRAST) >= 4.5
    assert area.locator(".ollama-nb-answer").evaluate(CONTRAST) >= 7
    code = area.locator(".ollama-nb-answer pre")
    assert (
        code.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(66, 66, 66)"
    )  # --jp-layout-color2
    assert code.evaluate(CONTRAST) >= 4.5
    error = "rgb(244, 67, 54)"  # --jp-error-color1 in the dark theme
    failed_call = area.locator("details.ollama-nb-round summary code")
    assert failed_call.evaluate("e => getComputedStyle(e).color") == error
    assert failed_call.evaluate(CONTRAST) >= 4.5
    failed = _area(page, 3)
    assert failed.locator(".ollama-nb-status").evaluate("e => getComputedStyle(e).color") == error
    assert failed.locator(".ollama-nb-problem").evaluate("e => getComputedStyle(e).color") == error
    assert "Half an" in output_text(page, 3)


LONG = "\n\n".join(f"Reply {{n}}, paragraph {i}: " + "a rather long sentence " * 12 for i in range(6))


def _chat_box(page, url: str, root: Path, name: str):
    cells = ["from ollama_nb import ChatWidget\nchat = ChatWidget(model='llama3.2')\nchat"]
    open_notebook(page, url, write_notebook(root, name, cells))
    run_and_wait(page, 0)
    box = cell(page, 0).locator(".ollama-nb-chat")
    box.locator("textarea").wait_for(timeout=15_000)
    return box


def test_chat_box_shows_every_reply_and_follows_the_newest(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(*[Turn(content=LONG.replace("{n}", str(n)), delay=0.002) for n in range(1, 4)])
    box = _chat_box(page, url, root, "chatlong.ipynb")
    cells = page.locator(".jp-Notebook .jp-Cell").count()
    text = box.locator("textarea")
    for n in range(1, 4):
        text.fill(f"Question {n}")
        text.press("Control+Enter" if n % 2 else "Shift+Enter")
        box.get_by_text(f"Reply {n}, paragraph 5", exact=False).wait_for(timeout=20_000)
        box.locator(".ollama-nb-status", has_text="tokens/s").nth(n - 1).wait_for(timeout=20_000)
    time.sleep(0.5)
    shot(page, "17-chat-three-long-replies")
    assert page.locator(".jp-Notebook .jp-Cell").count() == cells  # Shift+Enter sent, it did not run the cell
    history = box.locator(".ollama-nb-history")
    replies = history.locator(".ollama-nb-live")
    assert replies.count() == 3
    for i in range(3):
        assert replies.nth(i).evaluate("e => e.getBoundingClientRect().height") > 100
        assert f"Reply {i + 1}, paragraph 0" in replies.nth(i).inner_text()
    assert box.locator(".ollama-nb-user").count() == 3
    scroll = history.evaluate("h => [h.scrollTop, h.scrollHeight, h.clientHeight]")
    assert scroll[1] > scroll[2] + 500  # it scrolls rather than squashing its children
    assert scroll[0] + scroll[2] >= scroll[1] - 2  # at the bottom
    newest = replies.nth(2).locator(".ollama-nb-status")
    inside = history.evaluate("""(h, e) => { const a = h.getBoundingClientRect(), b = e.getBoundingClientRect();
                                  return b.top >= a.top && b.bottom <= a.bottom + 1; }""", newest.element_handle())  # fmt: skip
    assert inside  # the newest reply's end is in view


def test_chat_box_enter_makes_a_new_line(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(Turn(content="Two lines received."))
    box = _chat_box(page, url, root, "chatenter.ipynb")
    text = box.locator("textarea")
    text.click()
    page.keyboard.type("first line")
    page.keyboard.press("Enter")
    page.keyboard.type("second line")
    time.sleep(0.5)
    assert text.input_value() == "first line\nsecond line"
    assert box.locator(".ollama-nb-user").count() == 0  # nothing sent
    page.keyboard.press("Control+Enter")
    box.get_by_text("Two lines received.").wait_for(timeout=15_000)
    assert text.input_value() == ""
    assert model_server.state.chats()[-1]["messages"][-1]["content"] == "first line\nsecond line"


def test_chat_box_reopened_without_widget_state_shows_its_transcript(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(Turn(content="The answer is **4**."))
    box = _chat_box(page, url, root, "chatsaved.ipynb")
    assert not cell(page, 0).locator(".ollama-nb-transcript").is_visible()  # the live box hides its copy
    box.locator("textarea").fill("What is three plus one?")
    box.get_by_role("button", name="Send").click()
    box.locator(".ollama-nb-status", has_text="tokens/s").wait_for(timeout=15_000)
    time.sleep(0.5)
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=10_000)
    time.sleep(0.5)
    saved = nbformat.read(root / "chatsaved.ipynb", as_version=4)
    assert "widgets" not in saved.metadata
    assert [WIDGET in o.get("data", {}) for o in saved.cells[0].outputs] == [False]  # the transcript only
    page.goto("about:blank")
    for kernel in httpx.get(f"{url}/api/kernels").json():  # the box's widget models go with its kernel
        httpx.delete(f"{url}/api/kernels/{kernel['id']}")
    open_notebook(page, url, "chatsaved.ipynb")
    transcript = cell(page, 0).locator(".ollama-nb-transcript")
    transcript.wait_for(timeout=15_000)
    time.sleep(1)
    shot(page, "18-chat-reopened")
    assert transcript.is_visible()
    text = transcript.inner_text()
    assert "ollama_nb chat · llama3.2:latest · 1 reply" in text
    assert "What is three plus one?" in text and "The answer is 4." in text
    assert "ChatWidget(children" not in output_text(page, 0)
    assert "Error displaying widget" not in output_text(page, 0)  # nothing reads as an error
    assert not cell(page, 0).locator(".ollama-nb-chat").count()  # the box itself is gone with its kernel


def test_a_notebook_saved_in_jupyterlab_keeps_one_stylesheet_and_reads_as_markdown(
    page, jupyter, model_server
):
    url, root = jupyter
    model_server.push(Turn(content="The **first** answer."), Turn(content="The second answer."))
    cells = ["%load_ext ollama_nb", "%%ollama -m llama3.2\nOne?", "%%ollama -m llama3.2\nTwo?"]
    open_notebook(page, url, write_notebook(root, "twostyles.ipynb", cells))
    run_and_wait(page, 0, 1, 2)
    cell(page, 2).get_by_text("The second answer.").wait_for(timeout=15_000)
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=10_000)
    time.sleep(0.5)
    saved = nbformat.read(root / "twostyles.ipynb", as_version=4)
    markdown, _ = MarkdownExporter().from_notebook_node(saved)
    assert markdown.count(stylesheet()) == 1  # not once per answer
    assert "The <strong>first</strong> answer." in markdown and "The second answer." in markdown
    page.goto("about:blank")
    open_notebook(page, url, "twostyles.ipynb")  # reopened: both styled by the one stylesheet
    status = cell(page, 2).locator(".ollama-nb-status")
    status.wait_for(timeout=15_000)
    assert status.evaluate("e => getComputedStyle(e).fontSize") != cell(page, 2).locator(
        ".ollama-nb-answer p"
    ).evaluate("e => getComputedStyle(e).fontSize")  # the status line is smaller: styled


def test_chat_box_in_notebook_7(page, jupyter, model_server):
    url, root = jupyter
    model_server.push(Turn(content="Hello from the box in **Notebook 7**."))
    name = write_notebook(
        root, "chatnb7.ipynb", ["from ollama_nb import ChatWidget\nChatWidget(model='llama3.2')"]
    )
    page.goto(f"{url}/notebooks/{name}")
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
    run_and_wait(page, 0)
    box = cell(page, 0).locator(".ollama-nb-chat")
    box.locator("textarea").fill("Hi")
    box.locator("textarea").press("Control+Enter")
    box.get_by_text("Hello from the box in", exact=False).wait_for(timeout=15_000)
    assert box.locator("strong", has_text="Notebook 7").count() == 1
    shot(page, "19-chat-notebook7")
