"""What a saved notebook keeps, through a real kernel: every long part capped with a visible note
(the whole value stays in ``_ollama``), the answer kept whole twice, records of earlier versions
still read, and one stylesheet per notebook once Jupyter Server saves it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter

from ollama_nb import persist, render
from ollama_nb.reply import MIME
from ollama_nb.saving import tidy
from ollama_nb.standin import Turn

from .conftest import execute_notebook

FIXTURES = Path(__file__).parent / "fixtures"
BIG = 300_000  # far past the 20,000 characters a saved part keeps

SETUP = f'''
def echo(text: str) -> str:
    """Say how long a text is."""
    return f"{{len(text):,}} characters"

big_prompt = "p" * {BIG}
big_template = "t" * {BIG}
'''


def _size(outputs: list) -> int:
    return len(json.dumps(outputs))


def _html(outputs: list) -> str:
    return "".join(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))


def test_long_arguments_prompts_templates_and_token_lists_are_cut_in_the_file_not_in_the_kernel(server):
    server.push(Turn(tool_calls=[{"name": "echo", "arguments": {"text": "a" * BIG}}]), Turn(content="Long."),
                Turn(content="A long prompt."), Turn(content=["w "] * 3_000))  # fmt: skip
    nb = execute_notebook(
        ["%load_ext ollama_nb", SETUP,
         "%%ollama -m llama3.2 --tools echo --out tooled\nHow long is my text?",
         "%%ollama -m llama3.2 --out asked\n{{big_prompt}}",
         "%%ollama render -m llama3.2 --out rendered\n{{big_template}}",
         "%%ollama -m llama3.2 --logprobs 5\nRamble.",
         "print(len(tooled.trace[0].arguments['text']), len(asked.trace.prompt), len(rendered.text) > 300_000,"
         " len(_ollama.logprobs))"],
        server, timeout=120,
    )  # fmt: skip
    tool, prompt, template, tokens = (nb.cells[i].outputs for i in (2, 3, 4, 5))
    assert _size(tool) < 100_000 and "characters more" in _html(tool)
    assert _size(prompt) < 100_000 and "characters more" in _html(prompt)
    assert _size(template) < 100_000 and "characters more" in _html(template)
    assert _size(tokens) < 400_000 and "… 2,500 tokens more" in _html(tokens)
    assert "3,000 tokens" in _html(tokens)  # the summary counts them all
    assert nb.cells[6].outputs[0]["text"].split() == [str(BIG), str(BIG), "True", "3000"]  # whole in _ollama


def test_the_answer_is_kept_whole_twice_and_the_conversation_rebuilds_from_the_file(server, tmp_path):
    answer = "Start. " + "word " * 8_000 + "The end."
    server.push(Turn(content="First answer."), Turn(content=answer, thinking="Long thought. " * 500))
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m qwen3 --chat c\nHello",
                           "%%ollama -m qwen3 --chat c\nGo on"], server)  # fmt: skip
    (output,) = nb.cells[2].outputs
    assert json.dumps(output).count("The end.") == 2  # the HTML people read, the record load_replies reads
    assert "The end." in output["data"]["text/html"] and "The end." not in output["data"]["text/plain"]
    assert (
        output["data"]["text/plain"].startswith("Start. word")
        and "characters more" in output["data"]["text/plain"]
    )
    assert json.dumps(output["data"][MIME]).count("Long thought.") == 500  # the thinking once in the record
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    first, second = persist.load_replies(path)
    assert second.content == answer and second.thinking.count("Long thought.") == 500
    assert first.content == "First answer."
    assert [m["content"] for m in persist.load_conversation(path)] == [
        "Hello",
        "First answer.",
        "Go on",
        answer,
    ]


def test_replies_saved_by_the_previous_version_still_load():
    path = FIXTURES / "records_v2.ipynb"  # written by ollama_nb with version 2 records
    replies = persist.load_replies(path)
    assert [r.content for r in replies] == ["It is **4**.", "My name is Ada.", "You said Ada.", "Sure thing."]
    assert replies[0].trace[0].result == "4" and replies[1].thinking == "They asked my name."
    assert len(replies[3].logprobs) == 2
    assert [m["role"] for m in persist.load_conversation(path)] == ["user", "assistant"]
    chat = persist.rebuild(replies[1:3])
    assert [m["content"] for m in chat] == ["Be short.", "I am Ada. Who are you?", "My name is Ada.",
                                            "What did I say?", "You said Ada."]  # fmt: skip


def test_a_notebook_saved_by_jupyter_server_keeps_one_stylesheet_and_markdown_shows_the_answers(server):
    server.push(Turn(content="The first answer."), Turn(content="The second answer."))
    nb = execute_notebook(["%load_ext ollama_nb", "%%ollama -m llama3.2\nOne?", "%%ollama -m llama3.2\nTwo?"],
                          server)  # fmt: skip
    before, _ = MarkdownExporter().from_notebook_node(copy.deepcopy(nb))
    assert before.count(render.stylesheet()) == 2  # as nbclient leaves it: once per output
    saved = copy.deepcopy(nb)
    tidy(saved)  # what the pre-save hook does to the notebook on its way to the file
    markdown, _ = MarkdownExporter().from_notebook_node(saved)
    assert markdown.count(render.stylesheet()) == 1
    assert "The first answer." in markdown and "The second answer." in markdown
    again = copy.deepcopy(saved)
    tidy(again)
    assert again == saved  # saving again changes nothing
