"""Saved size: bytes of the outputs a notebook keeps, for the cases that used to balloon.

    python scripts/saved_size.py [TURNS] [ANSWER_CHARS]

Runs one notebook in a real kernel against the stand-in and prints, per case, the size of the
saved output (``json.dumps`` of the cell's outputs) and what it holds:

- a tool call with a 5 MB argument; a 5 MB prompt; a 3 MB rendered template (``%%ollama render``);
- an answer of 60,000 tokens with 5 alternatives each (``--logprobs 5``);
- a ``--chat`` conversation of TURNS cells (default 30) answering ANSWER_CHARS characters each
  (default 10,000): the answers' size, the outputs' size and their ratio (a cell that saved the
  whole conversation again would grow quadratically), and how many times one answer is kept.
"""

from __future__ import annotations

import copy
import json
import os
import sys

import nbformat
from nbclient import NotebookClient

from ollama_nb.saving import tidy
from ollama_nb.standin import StandInServer, Turn

SETUP = '''
def echo(text: str) -> str:
    """Say how long a text is."""
    return f"{len(text):,} characters"

big_prompt = "p" * 5_000_000
big_template = "t" * 3_000_000
'''

CASES = {  # name: (cell, the turns it takes from the script)
    "5 MB tool argument": ("%%ollama -m llama3.2 --tools echo\nHow long is my text?",
                           [Turn(tool_calls=[{"name": "echo", "arguments": {"text": "a" * 5_000_000}}]),
                            Turn(content="Five million characters.")]),
    "5 MB prompt": ("%%ollama -m llama3.2\n{{big_prompt}}", [Turn(content="A long prompt.")]),
    "3 MB rendered template": ("%%ollama render -m llama3.2\n{{big_template}}", []),
    "60,000 tokens, 5 alternatives": ("%%ollama -m llama3.2 --logprobs 5\nRamble.",
                                      [Turn(content=["w "] * 60_000)]),
}  # fmt: skip


def main() -> None:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    chars = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    answer = "word " * (chars // 5)
    with StandInServer() as server:
        for _, script in CASES.values():
            server.push(*script)
        server.push(*[Turn(content=f"Answer {i}: {answer}End {i}.") for i in range(turns)])
        nb = nbformat.v4.new_notebook()
        sources = ["%load_ext ollama_nb", SETUP, *(cell for cell, _ in CASES.values())]
        sources += [f"%%ollama -m llama3.2 --chat c\nQuestion {i}" for i in range(turns)]
        nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
        os.environ["OLLAMA_HOST"] = server.url
        NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    saved = copy.deepcopy(nb)
    tidy(saved)  # as Jupyter Server saves it, with ollama_nb installed (one stylesheet)
    for number, name in enumerate(CASES, start=2):
        size = len(json.dumps(nb.cells[number].outputs))
        print(f"{name:32} saved output {size / 1e6:8.3f} MB")
    for label, book in (("as nbclient leaves it", nb), ("as Jupyter Server saves it", saved)):
        chat = book.cells[2 + len(CASES) :]
        outputs = sum(len(json.dumps(c.outputs)) for c in chat)
        copies = json.dumps(chat[-1].outputs).count(f"End {turns - 1}.")  # whole copies of one answer
        print(f"{turns} turns of {chars:,} characters, {label}: answers {turns * chars / 1e3:,.0f} kB · saved outputs "
              f"{outputs / 1e3:,.0f} kB · ratio {outputs / (turns * chars):.2f} · one answer kept whole {copies} times")  # fmt: skip


if __name__ == "__main__":
    main()
