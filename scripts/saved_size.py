"""Saved size of a ``--chat`` conversation: bytes of outputs a notebook keeps for N turns.

    python scripts/saved_size.py [TURNS] [ANSWER_CHARS]

Runs N ``%%ollama --chat`` cells in a real kernel against the stand-in and prints the answers'
size, the outputs' size and their ratio (a cell that saved the whole conversation again would
grow quadratically)."""

from __future__ import annotations

import json
import os
import sys

import nbformat
from nbclient import NotebookClient

from ollama_nb.standin import StandInServer, Turn


def main() -> None:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    chars = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    with StandInServer() as server:
        server.push(*[Turn(content=f"Answer {i}: " + "word " * (chars // 5)) for i in range(turns)])
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("%load_ext ollama_nb")] + [
            nbformat.v4.new_code_cell(f"%%ollama -m llama3.2 --chat c\nQuestion {i}") for i in range(turns)
        ]
        os.environ["OLLAMA_HOST"] = server.url
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    answers = turns * chars
    outputs = sum(len(json.dumps(c.outputs)) for c in nb.cells)
    print(f"{turns} turns of {chars:,} characters: answers {answers / 1e3:,.0f} kB · saved outputs "
          f"{outputs / 1e3:,.0f} kB · ratio {outputs / answers:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
