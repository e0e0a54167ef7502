"""The demo model's answers about a notebook it was shown (``--notebook``, ``--fix``, ``--code``).

It reads the cells as ollama_nb sends them (:mod:`ollama_nb.nbcontext`): a question is answered
from the printed line that shares most words with it, a request for code that sorts a table
from the table's cell, and a fix from the failing cell's error and the names the cells define.
Enough for tutorial 06, with answers that come from what was sent, never from a script.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..nbcontext import FIX_HEADER, NOTEBOOK_HEADER
from .answers import Answer, Ask

_CELL = re.compile(r"^In \[(\d+)\]:$", re.M)
_SECTION = re.compile(r"^(Output|Out\[\d+\]|Error):\n(`{3,})\w*\n(.*?)\n\2$", re.M | re.S)
_CODE = re.compile(r"\A\s*(`{3,})python\n(.*?)\n\1$", re.M | re.S)
_STOP = {"the", "and", "what", "which", "how", "does", "did", "was", "were", "is", "are", "with", "that", "this",
         "from", "for", "get", "gets", "notebook", "above", "cell", "cells", "much", "many", "a", "of", "in"}  # fmt: skip
_WANTS_CODE = re.compile(r"\b(?:write|give me|show me)\b.*\bcode\b|\bcode (?:to|for|that)\b", re.I | re.S)
_DESCENDING = re.compile(r"\b(?:wettest|largest|most|highest|biggest|descending|first the big)", re.I)


@dataclass
class _Cell:
    number: int
    code: str
    output: str = ""
    error: str = ""


def cells_in(text: str) -> list[_Cell]:
    """The cells in a text built by :mod:`ollama_nb.nbcontext`, in order."""
    found = []
    parts = _CELL.split(text)
    for number, body in zip(parts[1::2], parts[2::2], strict=False):
        code = _CODE.match(body)
        cell = _Cell(int(number), code.group(2) if code else "")
        for kind, _, content in _SECTION.findall(body):
            if kind == "Output":
                cell.output = content
            elif kind == "Error":
                cell.error = content
        found.append(cell)
    return found


def notebook_answer(ask: Ask) -> Answer | None:
    """An answer from the notebook the model was shown, or None when it was shown none."""
    shown = [str(m.get("content", "")) for m in ask.history if m.get("role") == "user"]
    if shown and shown[-1].startswith(FIX_HEADER) and ask.history[-1].get("role") == "user":
        return fix(cells_in(shown[-1]))  # sent just ahead of the question
    notebook = next((text for text in reversed(shown) if text.startswith(NOTEBOOK_HEADER)), None)
    if notebook is None:
        return None
    cells = cells_in(notebook)
    if _WANTS_CODE.search(ask.prompt):
        return sort_code(ask.prompt, cells)
    return printed(ask.prompt, cells)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z_]\w+", text.lower()) if w not in _STOP}


def printed(prompt: str, cells: list[_Cell]) -> Answer:
    """The printed line sharing most words with the question (the newest of equals)."""
    wanted = _words(prompt)
    lines = [(len(wanted & _words(line)), cell.number, line.strip())
             for cell in cells for line in cell.output.splitlines() if line.strip()]  # fmt: skip
    if not lines or max(lines)[0] == 0:
        return Answer("I looked through the cells you shared, but none of them printed anything about that.",
                      "The notebook's outputs do not mention what is asked.")  # fmt: skip
    _, number, line = max(lines)
    return Answer(f"The notebook says so in In [{number}]: “{line}”",
                  f"In [{number}] printed a line about {', '.join(sorted(wanted & _words(line)))}.")  # fmt: skip


def _frame(cells: list[_Cell]) -> tuple[str, list[str]] | None:
    """The last table made in the cells: its variable and the column names written in its code."""
    for cell in reversed(cells):
        made = re.search(r"^(\w+)\s*=\s*(?:pd|pandas)\.DataFrame\(", cell.code, re.M)
        if made:
            return made.group(1), re.findall(r"['\"](\w+)['\"]\s*:", cell.code)
    return None


def sort_code(prompt: str, cells: list[_Cell]) -> Answer:
    found = _frame(cells)
    column = next((c for c in (found[1] if found else []) if c.lower() in prompt.lower()), None)
    if found is None or column is None:
        return Answer("Tell me which table and which column: I see no DataFrame with such a column in the cells.",
                      "No table with the column asked for.")  # fmt: skip
    name, descending = found[0], bool(_DESCENDING.search(prompt))
    code = f'{name}.sort_values("{column}", ascending={not descending})'
    order = "the largest first" if descending else "the smallest first"
    return Answer(f"Sort `{name}` by its `{column}` column, {order}:\n\n```python\n{code}\n```\n\n"
                  "Run the new cell to see the table in that order.",
                  f"`{name}` is the DataFrame and `{column}` the column asked for.")  # fmt: skip


_MISSING_NAME = re.compile(r"(KeyError): '(\w+)'|(NameError): name '(\w+)' is not defined|"
                           r"(AttributeError): .* has no attribute '(\w+)'")  # fmt: skip


def fix(cells: list[_Cell]) -> Answer:
    """Explain the failing cell's error and, for a misspelt name, correct it to the closest one
    the other cells define or use."""
    if not cells or not cells[0].error:
        return Answer("I see no error in what you sent.", "No failing cell.")
    broken, others = cells[0], cells[1:]
    last = broken.error.strip().splitlines()[-1]
    missing = _MISSING_NAME.search(last)
    if missing is None:
        return Answer(f"The cell In [{broken.number}] stops with `{last}`. Read the last frame of the "
                      "traceback: the line it shows is where the value went wrong.", "An error I cannot correct.")  # fmt: skip
    kind, wrong = next((missing.group(i), missing.group(i + 1)) for i in (1, 3, 5) if missing.group(i))
    words = r"['\"](\w+)['\"]" if kind == "KeyError" else r"\w+"  # a key is written quoted
    known = {w for cell in others for w in re.findall(words, cell.code)} - {wrong}
    close = difflib.get_close_matches(wrong, sorted(known), n=1, cutoff=0.5)
    what = {"KeyError": "column", "NameError": "variable", "AttributeError": "attribute"}[kind]
    why = (f"The cell In [{broken.number}] asks for a {what} called `{wrong}`, and there is none: that is "
           f"what `{last}` says.")  # fmt: skip
    if not close:
        return Answer(
            why + " Check the spelling against the cells that define it.", "A name that is nowhere."
        )
    fixed = re.sub(rf"\b{re.escape(wrong)}\b", close[0], broken.code)
    return Answer(f"{why} The cells above call it `{close[0]}`. Corrected cell:\n\n```python\n{fixed}\n```",
                  f"`{wrong}` is not defined, `{close[0]}` is the closest name in the cells.")  # fmt: skip
