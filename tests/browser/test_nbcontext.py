"""The notebook as context, in JupyterLab: code from a reply in the chat box, copied to paste."""

from __future__ import annotations

from ollama_nb.standin import Turn

from .conftest import shot, write_notebook
from .test_lab import cell, open_notebook, run_and_wait

REPLY = (
    "Two ways:\n\n```python\ntotal = sum(rows)\nprint(total)\n```\n\nor\n\n```python\nprint(sum(rows))\n```\n"
)


def test_chat_box_code_blocks_have_a_copy_button(page, jupyter, model_server):
    url, root = jupyter
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    model_server.push(Turn(content=REPLY))
    cells = ["from ollama_nb import ChatWidget\nchat = ChatWidget(model='llama3.2')\nchat"]
    open_notebook(page, url, write_notebook(root, "chatcopy.ipynb", cells))
    run_and_wait(page, 0)
    cells_before = page.locator(".jp-Notebook .jp-Cell").count()
    box = cell(page, 0).locator(".ollama-nb-chat")
    box.locator("textarea").fill("How do I add up rows?")
    box.get_by_role("button", name="Send").click()
    box.locator(".ollama-nb-status", has_text="tokens/s").wait_for(timeout=15_000)
    buttons = box.locator(".ollama-nb-answer button.ollama-nb-copy")
    buttons.nth(1).wait_for(timeout=5_000)
    assert buttons.count() == 2  # one per code block, none on the question
    buttons.nth(0).click()
    box.get_by_role("button", name="Copied").wait_for(timeout=5_000)
    shot(page, "30-chat-copy-button")
    assert page.evaluate("navigator.clipboard.readText()") == "total = sum(rows)\nprint(total)\n"
    buttons.nth(1).click()
    assert page.evaluate("navigator.clipboard.readText()") == "print(sum(rows))\n"
    assert page.locator(".jp-Notebook .jp-Cell").count() == cells_before  # nothing inserted
